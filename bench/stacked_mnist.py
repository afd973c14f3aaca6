"""Mode collapse on Stacked MNIST (1,000 modes), the VEEGAN / PacGAN Table 2 protocol: each row (a
DCGAN, or a DCGAN with one remedy) trained for --steps G steps over --seeds seeds; then 26,000
samples of each run's (EMA) generator, each channel read by gankit's MNIST classifier, scored by
gankit/metrics/modes.py's stacked_modes:

  modes   modes (000..999) holding at least one sample
  KL      KL(sample modes || uniform over the 1,000)
Mean +- sd over the seeds, with the published rows beside (PacGAN Table 2: DCGAN, the unrolled
GAN, VEEGAN and PacDCGAN2).

Rows (--rows, comma-separated; all by default):
  dcgan-paper   `dcgan --preset paper` (Radford 2015: Adam 2e-4, beta1 0.5, batches of 128, depth 0)
  dcgan         `dcgan` with gankit's defaults
  unrolled5     dcgan-paper with unroll=5
  pack2, pack4  dcgan-paper with pack=2 / 4 (PacDCGAN)
  mbstd         dcgan-paper with the minibatch standard deviation (mbstd=1, groups of 4)
  mbdisc        dcgan-paper with minibatch discrimination (mbdisc=50 kernels of 5)
  selfcond      dcgan-paper self-conditioned on --clusters k-means clusters
--table3 adds PacGAN's Table 3 rows: dcgan-paper, unrolled5 and pack2 with a discriminator of
1/4 and 1/2 of G's channels (d_width = width / 4, width / 2), published numbers beside.

Usage: python bench/stacked_mnist.py [--data-dir DIR] [--rows dcgan-paper,pack2] [--seeds 10]
                                     [--steps 5000] [--samples 26000] [--clusters 100] [--table3]
                                     [--threads 1] [--no-ema] [--set key=value ...]
Needs the MNIST files (--data-dir, or gankit's search order) and gankit's MNIST classifier (trained
and cached on first use). Prints tables; never asserts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collapse_runs import mean_sd, parse_rows, train_and_sample  # noqa: E402

from gankit.config import TrainConfig, parse_set  # noqa: E402
from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.data.base import to_uint8  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.metrics.features import make_extractor  # noqa: E402
from gankit.metrics.modes import stacked_modes  # noqa: E402

# name -> (model, preset, keys); selfcond's clusters come from --clusters
ROWS = {
    "dcgan-paper": ("dcgan", "paper", {}),
    "dcgan": ("dcgan", "gankit", {}),
    "unrolled5": ("dcgan", "paper", {"unroll": 5}),
    "pack2": ("dcgan", "paper", {"pack": 2}),
    "pack4": ("dcgan", "paper", {"pack": 4}),
    "mbstd": ("dcgan", "paper", {"mbstd": 1}),
    "mbdisc": ("dcgan", "paper", {"mbdisc": 50}),
    "selfcond": ("dcgan", "paper", {"clusters": None}),
}
PUBLISHED = [("DCGAN (PacGAN Table 2)", "99.0", "3.40"), ("Unrolled GAN (Table 2)", "48.7", "4.32"),
             ("VEEGAN (Table 2)", "150.0", "2.95"), ("PacDCGAN2 (Table 2)", "1000.0", "0.06")]
TABLE3 = {"dcgan-paper": ("DCGAN", 30.6, 628.0), "unrolled5": ("Unrolled GAN", 327.0, 817.0),
          "pack2": ("PacDCGAN2", 667.0, 867.0)}  # modes at D 1/4 and 1/2 of G's size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the MNIST files")
    ap.add_argument("--rows", default=None, help=f"comma-separated, from {', '.join(ROWS)}")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5000, help="G steps per run (max_steps)")
    ap.add_argument("--samples", type=int, default=26_000)
    ap.add_argument("--clusters", type=int, default=100, help="k-means clusters of the selfcond row")
    ap.add_argument("--table3", action="store_true", help="add PacGAN Table 3's smaller discriminators")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-ema", action="store_true", help="sample G's own weights, not its EMA copy")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    rows = parse_rows(args.rows, ROWS)
    extra = parse_set(args.sets)
    data = load_dataset("stacked-mnist", DataSpec(data_dir=Path(args.data_dir) if args.data_dir else None,
                                                  split="train"))
    classify = make_extractor("classifier", "stacked-mnist", "image", args.data_dir, "cpu", 28, 3)
    print(f"CPU: {describe_cpu()}; {args.threads} thread(s) per run, {args.steps} G steps, {args.seeds} seeds, "
          f"{args.samples} samples; 1000 modes", flush=True)
    head = f"{'row':26s} {'D width':>8s} {'modes':>15s} {'KL':>13s} {'s/epoch':>8s} {'s/run':>6s}"
    print(head, flush=True)

    def run(name: str, fraction: float = 1.0) -> tuple[str, str]:
        model, preset, keys = ROWS[name]
        keys = {k: (args.clusters if v is None else v) for k, v in keys.items()}
        keys.update(extra)
        width = int(keys.get("width", TrainConfig.width))
        if fraction != 1.0:
            keys["d_width"] = max(1, round(width * fraction))
        found = {"modes": [], "kl": [], "s": [], "epoch": []}
        for seed in range(args.seeds):
            x, facts = train_and_sample(model, data, preset, keys, args.steps, seed, args.samples, args.threads,
                                        ema=not args.no_ema)
            s = stacked_modes(classify(to_uint8(x)).channel_preds)
            found["modes"].append(s["modes_captured"])
            found["kl"].append(s["kl_to_uniform"])
            found["s"].append(facts["seconds"])
            found["epoch"].append(facts["s_per_epoch"])
        dw = "G's" if fraction == 1.0 else f"1/{round(1 / fraction)}"
        print(f"{name:26s} {dw:>8s} {mean_sd(found['modes']):>15s} {mean_sd(found['kl'], 2):>13s} "
              f"{sum(found['epoch']) / len(found['epoch']):8.1f} {sum(found['s']) / len(found['s']):6.0f}",
              flush=True)
        return mean_sd(found["modes"]), mean_sd(found["kl"], 2)

    for name in rows:
        run(name)
    for label, modes, kl in PUBLISHED:
        print(f"{label:26s} {'':>8s} {modes:>15s} {kl:>13s}   (published)")
    if args.table3:
        print("\nPacGAN Table 3: discriminators of 1/4 and 1/2 of G's channels (d_width)")
        for name, (label, quarter, half) in TABLE3.items():
            for fraction, published in ((0.25, quarter), (0.5, half)):
                run(name, fraction)
                print(f"{label + ' (published)':26s} {'1/' + str(round(1 / fraction)):>8s} {published:>15.1f}")


if __name__ == "__main__":
    main()
