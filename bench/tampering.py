"""Tampered images project worse (gankit.tampering): ROC AUC of the projection distance per kind.

Usage: python bench/tampering.py RUN [--data-dir DIR] [--n 200] [--steps 300] [--seed 0] [--out DIR]
Takes n test images of the run's dataset (chosen by seed), tampers a copy of each in every way
(stroke, erase, splice), projects originals and tampered copies into the run's generator in one
batch (gankit.projection, as `gankit project`), and prints for each kind the ROC AUC of the
distance to the projection as a score for "tampered": the loss (pixel MSE + classifier-feature
distance), and each term alone. Writes OUT/tampering.png (per kind, rows of: original, its
projection, tampered copy, its projection) and OUT/tampering.json. Plain prints; never asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import gankit  # noqa: E402
from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.data.base import to_model_range, to_uint8  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.tampering import KINDS, auc, tamper  # noqa: E402
from gankit.viz import save_grid  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="folder for the figure and JSON (default: the run folder)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = gankit.load(a.run)
    cfg = m.cfg
    d = a.data_dir or cfg.data_dir
    test = load_dataset(cfg.dataset, DataSpec(data_dir=Path(d) if d else None, split="test"))
    g = torch.Generator().manual_seed(a.seed)
    perm = torch.randperm(len(test), generator=g)
    x = to_model_range(test.x[perm[:a.n]])
    others = to_model_range(test.x[perm[a.n:2 * a.n]])
    sets = {"original": x, **{k: tamper(k, x, a.seed + i + 1, others) for i, k in enumerate(KINDS)}}
    batch = torch.cat(list(sets.values()))
    t0 = time.perf_counter()
    p = m.project(batch, steps=a.steps, seed=a.seed)
    took = time.perf_counter() - t0
    n = a.n
    part = lambda t, i: t[i * n:(i + 1) * n]
    rows = []
    for i, k in enumerate(KINDS, start=1):
        rows.append({"kind": k, **{name: round(auc(part(t, 0), part(t, i)), 4)
                                   for name, t in (("loss", p.loss), ("pixel", p.pixel), ("feature", p.feature))}})
    out = Path(a.out) if a.out else Path(a.run)
    out.mkdir(parents=True, exist_ok=True)
    shown = 6
    tiles = []
    for i, k in enumerate(KINDS, start=1):
        for j in range(shown):
            tiles += [x[j], p.images[j], part(batch, i)[j], part(p.images, i)[j]]
    save_grid(to_uint8(torch.stack(tiles)), out / "tampering.png", nrow=8)
    (out / "tampering.json").write_text(json.dumps({"run": a.run, "n": n, "steps": a.steps, "rows": rows,
                                                     "seconds": round(took, 1)}, indent=2) + "\n")
    print(f"{cfg.model} on {cfg.dataset} (step {m.meta.get('step')}): {n} test images and {len(KINDS)} tampered "
          f"copies of each projected with {a.steps} steps in {took:.0f} s; CPU: {describe_cpu()}, "
          f"{torch.get_num_threads()} thread(s); features: {p.feature_space}")
    print("| tampering | AUC, loss | AUC, pixel MSE | AUC, feature distance |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['kind']} | {r['loss']:.3f} | {r['pixel']:.3f} | {r['feature']:.3f} |")
    print(f"wrote {out / 'tampering.png'} (per kind, each row two pairs: original, projection, tampered, "
          f"projection) and {out / 'tampering.json'}")


if __name__ == "__main__":
    from entry import run

    run(main)
