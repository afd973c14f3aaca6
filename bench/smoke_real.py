"""Every model end to end on real data: train, resume, sample and evaluate, one short run each.

Usage: python bench/smoke_real.py [--models infogan,vae,...] [--datasets mnist,fashion-mnist]
                                  [--mnist-dir DIR] [--minutes 0.3] [--n 1000] [--keep DIR]
Each model trains for --minutes, is resumed for as long again (`gankit train --resume RUN
--minutes 2x`), samples 100 images (`gankit sample`), and is scored by `gankit eval --n N`. Prints
one row per (model, dataset): steps before and after the resume, FID and the model's own scores,
or the command that failed. This checks that the paths work on real data; the numbers after
seconds of training say nothing about quality.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.device import describe_cpu  # noqa: E402
from gankit.training.checkpoint import read_meta  # noqa: E402

MODELS = ["acgan", "lsgan", "hinge", "infogan", "vae", "autoencoder"]
OWN = ("code_accuracy", "nll_iwae", "recon_mse", "d_class_acc", "label_accuracy")


def gankit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--datasets", default="mnist,fashion-mnist")
    ap.add_argument("--mnist-dir", default=None, help="--data-dir for mnist")
    ap.add_argument("--minutes", type=float, default=0.3)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gankit-smoke-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {describe_cpu()}; {args.minutes:g} min + resume {args.minutes:g} min per run")
    print(f"{'model':12s} {'dataset':14s} {'steps':>11s} {'FID':>8s}  own scores")
    for dataset in args.datasets.split(","):
        data = ["--data-dir", args.mnist_dir] if dataset == "mnist" and args.mnist_dir else []
        for model in args.models.split(","):
            run = root / f"{model}-{dataset}"
            steps = []
            cmds = [("train", model, "--dataset", dataset, *data, "--minutes", str(args.minutes), "--out", str(run)),
                    ("train", "--resume", str(run), "--minutes", str(2 * args.minutes)),
                    ("sample", str(run), "--n", "100", "--out", str(run / "s.npz"), "--grid", str(run / "s.png")),
                    ("eval", str(run), "--n", str(args.n), "--no-memorization")]
            failed = None
            for i, cmd in enumerate(cmds):
                r = gankit(*cmd)
                if r.returncode:
                    failed = f"`gankit {' '.join(cmd)}` exited {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}"
                    break
                if i < 2:
                    steps.append((read_meta(run / "checkpoints" / "last.safetensors") or {}).get("step", 0))
            if failed:
                print(f"{model:12s} {dataset:14s} FAILED {failed}", flush=True)
                continue
            s = json.loads((run / "eval.json").read_text())["scores"]
            own = "  ".join(f"{k}={s[k]:.4f}" for k in OWN if k in s)
            print(f"{model:12s} {dataset:14s} {steps[0]:>5d}->{steps[1]:<5d} {s['fid']:8.2f}  {own}", flush=True)
    print(f"runs in {root}")


if __name__ == "__main__":
    from entry import run

    run(main)
