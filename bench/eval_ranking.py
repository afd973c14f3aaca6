"""Do gankit's metrics rank sample sets the way they should? Real images > a well-trained model >
a briefly trained one, on every metric.

Usage: python bench/eval_ranking.py --good RUN --weak RUN [--data-dir DIR] [--n 10000]
  --good  a run trained for minutes (e.g. `gankit train dcgan --dataset mnist --minutes 5`)
  --weak  a run of the same dataset trained for seconds (e.g. `--minutes 0.5`)
The real set is n random training images: the reference of every metric is the test split, so
test images themselves would be compared with themselves. Prints the three columns and, per
metric, whether real >= good >= weak holds in the metric's better direction. Never asserts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.data.base import to_uint8  # noqa: E402
import gankit  # noqa: E402
from gankit.metrics.evaluate import METRICS, evaluate, reference  # noqa: E402


def samples(run: str, n: int):
    m = gankit.load(run)
    labels = m.labels(n, "all") if m.conditional else None
    return to_uint8(m.sample(n, 0, labels, as_tensor=True)), labels, m.cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--good", required=True)
    ap.add_argument("--weak", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--n", type=int, default=10000)
    args = ap.parse_args()
    good_x, good_l, cfg = samples(args.good, args.n)
    weak_x, weak_l, _ = samples(args.weak, args.n)
    ref = reference(cfg.dataset, args.data_dir or cfg.data_dir, cfg.image_size, cfg.channels)
    train = ref.train
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(123))[:args.n]
    real_l = train.labels[idx] if good_l is not None else None
    sets = {"real": (train.x[idx], real_l), "good": (good_x, good_l), "weak": (weak_x, weak_l)}
    res = {k: evaluate(ref, x, lab, seed=0, memorization=False)["scores"] for k, (x, lab) in sets.items()}
    print(f"{cfg.dataset}: {args.n} real training images vs {args.good} vs {args.weak}; reference: test split")
    print(f"  {'metric':26s} {'real':>9s} {'good':>9s} {'weak':>9s}  ranking")
    wrong = 0
    for key, (label, better) in METRICS.items():
        if key not in res["good"] or better == "info":
            continue
        v = [res[k][key] for k in ("real", "good", "weak")]
        ok = v[0] <= v[1] <= v[2] if better == "lower" else v[0] >= v[1] >= v[2]
        wrong += not ok
        print(f"  {label:26s} {v[0]:9.4f} {v[1]:9.4f} {v[2]:9.4f}  {'ok' if ok else 'WRONG'}")
    print(f"ranking right on {'every metric' if not wrong else f'all but {wrong} metrics'}")


if __name__ == "__main__":
    from entry import run

    run(main)
