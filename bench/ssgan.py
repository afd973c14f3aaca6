"""The semi-supervised GAN on (Fashion-)MNIST with few labels, Salimans et al. 2016's Table 1
protocol: for each total number of labels (--labels, e.g. 20 = 2 per class) and --seeds seeds (the
seed picks the labelled images, the weights and the noise), gankit's `ssgan` trains for --steps
steps (or --epochs passes) and its D (the EMA of its weights, as `gankit eval` scores it; --no-ema
for its raw weights) classifies the test split; printed are its errors (mean +- sd over the seeds),
beside:
  supervised  the same D network with the same labelled images, initialisation, optimizer, EMA and
              steps, but D's loss the cross-entropy on the labelled batches alone (`ssgan` with
              unsup_weight=0: the unlabelled and generated images pass through D with weight 0)
  published   Salimans et al. 2016 Table 1, "Feature matching (ours)", errors of the 10,000 MNIST
              test images over 10 seeds (MNIST only; the paper trained 300 epochs)

Usage: python bench/ssgan.py --data-dir DIR [--dataset mnist|fashion-mnist] [--labels 20,50,100,200]
                             [--seeds 3] [--steps 3000 | --epochs E] [--threads 1] [--device cpu]
                             [--preset gankit|paper] [--no-baseline] [--no-ema] [--set key=value ...]
--set goes into every run's config (both rows). Each run uses `threads` CPU threads (1 by default).
Prints a table and the CPU it ran on; never asserts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collapse_runs import mean_sd, run_config, run_precision, trained  # noqa: E402

from gankit.algorithms import MODELS  # noqa: E402
from gankit.config import option_types, parse_set  # noqa: E402
from gankit.data import DataSpec, load_dataset, to_model_range  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402

# Salimans et al. 2016, Table 1: test errors of 10,000 (mean +- sd over 10 seeds) by total labels
PUBLISHED = {20: "1677 +- 452", 50: "221 +- 136", 100: "93 +- 6.5", 200: "90 +- 4.2"}


def test_errors(data, test, per_class: int, seed: int, steps: Optional[int], sets: dict, threads: int,
                device: str, preset: str, ema: bool) -> tuple[int, float]:
    """Train ssgan on `data` for `steps` (None: the budget in `sets`) in a temporary run folder and
    count its D's mistakes on `test`. Returns (errors, seconds of training)."""
    with trained("ssgan", data, preset, {**sets, "labels_per_class": per_class}, steps, seed, threads,
                 device) as (trainer, seconds):
        nets = trainer.sampling_nets() if ema else dict(trainer.nets)
        pred = trainer.algo.classify(nets, to_model_range(test.x)).argmax(1)
    return int((pred != test.labels).sum()), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (any labelled image dataset works)")
    ap.add_argument("--data-dir", default=None, help="folder with the dataset's files")
    ap.add_argument("--labels", default="20,50,100,200", help="total labelled images, a multiple of the classes")
    ap.add_argument("--seeds", type=int, default=3)
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=None, help="G steps per run (default 3000)")
    budget.add_argument("--epochs", type=int, default=None, help="passes over the training images per run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="gankit", choices=["gankit", "paper"])
    ap.add_argument("--no-baseline", action="store_true", help="skip the supervised-only row")
    ap.add_argument("--no-ema", action="store_true", help="score D's raw weights, not their EMA")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    data_dir = Path(a.data_dir) if a.data_dir else None
    data = load_dataset(a.dataset, DataSpec(data_dir=data_dir, split="train"))
    test = load_dataset(a.dataset, DataSpec(data_dir=data_dir, split="test"))
    k = data.num_classes
    labels = [int(s) for s in a.labels.split(",") if s.strip()]
    bad = [n for n in labels if n <= 0 or n % k]
    if bad:
        raise SystemExit(f"--labels must be positive multiples of the {k} classes, not {bad}")
    sets = parse_set(a.sets, option_types(MODELS.get("ssgan").algorithm.Options))
    sets |= {"epochs": a.epochs} if a.epochs else {}
    steps = None if a.epochs else (a.steps or 3000)
    budget = f"epochs={a.epochs}" if a.epochs else f"max_steps={steps}"
    cfg = run_config("ssgan", data, a.preset, {**sets, "labels_per_class": 1}, steps, 0, a.threads, a.device)
    print(f"CPU: {describe_cpu()}; ssgan trains in {run_precision(cfg, data)}; {a.threads} thread(s) per run, "
          f"device {a.device}, {budget}, {a.seeds} seeds, preset {a.preset}, D {'raw' if a.no_ema else 'EMA'} "
          f"weights; {a.dataset}: {len(data)} training images, errors of its {len(test)} test images", flush=True)
    published = a.dataset == "mnist"
    head = f"{'labels':>6s} {'per class':>9s} {'ssgan':>16s} {'supervised D':>16s}" \
           f"{' published (Table 1)':>22s} {'s/run':>7s}"
    print(head, flush=True)
    for n in labels:
        found: dict[str, list] = {"ssgan": [], "sup": [], "s": []}
        for seed in range(a.seeds):
            errors, s = test_errors(data, test, n // k, seed, steps, sets, a.threads, a.device, a.preset,
                                    not a.no_ema)
            found["ssgan"].append(errors)
            found["s"].append(s)
            if not a.no_baseline:
                errors, _ = test_errors(data, test, n // k, seed, steps, {**sets, "unsup_weight": 0}, a.threads,
                                        a.device, a.preset, not a.no_ema)
                found["sup"].append(errors)
        print(f"{n:6d} {n // k:9d} {mean_sd(found['ssgan']):>16s} {mean_sd(found['sup']):>16s}"
              f"{PUBLISHED.get(n, '-') if published else '-':>22s} {sum(found['s']) / len(found['s']):7.0f}",
              flush=True)


if __name__ == "__main__":
    from entry import run

    run(main)
