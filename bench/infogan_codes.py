"""InfoGAN's categorical code as an unsupervised classifier of MNIST, over several seeds.

Usage: python bench/infogan_codes.py --data-dir ../shared/data/mnist [--seeds 0,1,2,3,4]
                                     [--minutes 5 | --steps 5000] [--dataset mnist] [--keep DIR]
                                     [--set KEY=VALUE ...]
Each seed trains `gankit train infogan` in its own process (registry defaults, the seed, the
budget), then Q's most likely code for each of the 10,000 test images is matched to the digits:
one-to-one by the Hungarian algorithm (the accuracy `gankit eval` reports) and by majority.
Prints one row per seed, then mean, standard deviation, min and max, and the CPU it ran on. The
paper (Chen et al. 2016) reports 5% error, i.e. 95% accuracy. Plain prints; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gankit  # noqa: E402
from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.data.base import to_model_range  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.metrics.modes import matched_accuracy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=None)
    budget.add_argument("--steps", type=int, default=None, help="generator steps (default: --minutes 5)")
    ap.add_argument("--set", action="append", default=[], help="extra config keys for every run")
    ap.add_argument("--keep", default=None, help="keep the run folders here (default: a temp folder)")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gankit-infogan-"))
    root.mkdir(parents=True, exist_ok=True)
    tests = {}  # image size -> (the test split at that size, in model range); a run may set its own size

    def test_at(size):
        if size not in tests:
            t = load_dataset(args.dataset, DataSpec(data_dir=Path(args.data_dir) if args.data_dir else None,
                                                    split="test", image_size=size))
            tests[size] = tests[t.x.shape[-1]] = (t, to_model_range(t.x))  # native size: keyed by its side too
        return tests[size]

    test_at(None)  # data missing: say so before any training
    if args.steps:
        what, budget_args = f"{args.steps} steps", ["--set", f"max_steps={args.steps}"]
    else:
        minutes = args.minutes or 5.0
        what, budget_args = f"{minutes:g} minutes", ["--minutes", str(minutes)]
    print(f"infogan on {args.dataset}, {what} per seed; CPU: {describe_cpu()}")
    print(f"{'seed':>4s} {'steps':>6s} {'epochs':>6s} {'wall s':>7s} {'Hungarian':>9s} {'majority':>8s}")
    hung = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        out = Path(tempfile.mkdtemp(prefix=f"infogan-{args.dataset}-seed{seed}-", dir=root)) / "run"
        cmd = [sys.executable, "-m", "gankit", "train", "infogan", "--dataset", args.dataset, "--seed", str(seed),
               "--out", str(out), *budget_args] + (["--data-dir", args.data_dir] if args.data_dir else [])
        for kv in args.set:
            cmd += ["--set", kv]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        m = gankit.load(out, "last")
        test, real = test_at(m.info.shape[-1])
        pred = m.algo.predict_codes(m.nets, real)
        h, maj = matched_accuracy(pred, test.labels, m.algo.k, test.num_classes)
        hung.append(h)
        print(f"{seed:4d} {m.meta['step']:6d} {m.meta['epoch']:6d} {wall:7.0f} {h:9.4f} {maj:8.4f}", flush=True)
    if len(hung) > 1:
        print(f"Hungarian accuracy over {len(hung)} seeds: mean {statistics.mean(hung):.4f}, "
              f"std {statistics.stdev(hung):.4f}, min {min(hung):.4f}, max {max(hung):.4f}; "
              f"{sum(h >= 0.95 for h in hung)} of {len(hung)} at 95% or more")
    print(f"runs in {root}")


if __name__ == "__main__":
    from entry import run

    run(main)
