"""Training time until gankit's quality thresholds are crossed on MNIST, and quality at fixed budgets.

Usage: python bench/time_to_quality.py --data-dir ../shared/data/mnist [--models cdcgan,dcgan]
                                       [--minutes 5] [--eval-every 250] [--set key=value ...]
Each model trains once for the budget with `--eval-every` (2,000 samples per evaluation, scored in
the domain classifier's features against the test split). Evaluation time is not charged to the
training clock (time_s in metrics.jsonl), so the times below are training time; the wall time of
the whole run is printed too. Prints, per model: the first training time at which FID falls below
each threshold, at which label accuracy (conditional models) reaches 97%, at which all ten classes
are covered; then FID / classes / label accuracy at 30 s, 60 s, 90 s and the end. Never asserts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.runs import RunFolder, images_per_second  # noqa: E402

FID_THRESHOLDS = (20.0, 10.0, 5.0, 2.0)
BUDGETS_S = (30, 60, 90)


def first_time(rows: list[dict], ok) -> str:
    for r in rows:
        if ok(r):
            return f"{r['time_s']:.0f} s"
    return "-"


def at(rows: list[dict], seconds: float) -> dict:
    """The last evaluation at or before `seconds` of training time."""
    done = [r for r in rows if r["time_s"] <= seconds]
    return done[-1] if done else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--models", default="cdcgan,dcgan")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--set", action="append", default=[], help="config overrides for every model")
    ap.add_argument("--keep", default=None, help="keep the run folders here")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gankit-ttq-"))
    root.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        out = root / f"{model}-{int(time.time())}"
        cmd = [sys.executable, "-m", "gankit", "train", model, "--dataset", "mnist", "--minutes", str(args.minutes),
               "--eval-every", str(args.eval_every), "--out", str(out)]
        cmd += (["--data-dir", args.data_dir] if args.data_dir else []) + sum((["--set", s] for s in args.set), [])
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        rows = RunFolder(out).read_metrics()
        evals = [r for r in rows if r.get("eval")]
        print(f"\n{model}: {args.minutes:g} min of training ({wall:.0f} s wall with evaluations), "
              f"{evals[-1]['epoch']:.2f} epochs, {images_per_second(rows):.0f} img/s, "
              f"{len(evals)} evaluations; settings {' '.join(args.set) or 'defaults'}")
        for t in FID_THRESHOLDS:
            print(f"  FID <= {t:<5g}         first at {first_time(evals, lambda r: r['fid'] <= t)}")
        print(f"  all 10 classes        first at {first_time(evals, lambda r: r.get('classes_covered') == 10)}")
        if any("label_accuracy" in r for r in evals):
            print(f"  label accuracy >= 97% first at {first_time(evals, lambda r: r.get('label_accuracy', 0) >= 0.97)}")
        for s in BUDGETS_S + (args.minutes * 60,):
            r = at(evals, s)
            if r:
                acc = f", label accuracy {r['label_accuracy']:.4f}" if "label_accuracy" in r else ""
                print(f"  at {s:4.0f} s (step {r['step']}): FID {r['fid']:.3f}, classes {r.get('classes_covered')}{acc}")
    print(f"\nruns in {root}")


if __name__ == "__main__":
    from entry import run

    run(main)
