"""The default first run (`gankit train`: dcgan on scikit-learn's digits): its wall time, start to
end, and its quality, beside the previous recipe and the tutorial-style loop given the same wall
time, all measured in this one process on this machine.

Usage: python bench/first_run.py [--fp32-only] [--n 5000] [--old] [--no-naive] [--seed 0]
Rows:
  default   `gankit train --out DIR` as a new user types it
  old       the recipe before this one (depth 1, 2 G steps, Adam 2e-4 on batches of 64, 209 epochs)
  naive     bench/naive_dcgan.py (dcgan's registry networks, depth 1, in the PyTorch tutorial's
            loop: fp32, per-item PIL transforms, Adam 2e-4 on batches of 64, one G step) for the
            default's wall time
Columns: the whole command's wall time in seconds (start-up, data, training, grids, checkpoints),
the training rate of the last metrics row, and FID of --n samples against the digits test split in
gankit's digits classifier's features (the floor: real training digits scored the same way),
classes covered. --fp32-only runs every row as a CPU without bf16 arithmetic would, as far as one
can on this CPU: precision fp32, and oneDNN and MKL limited to AVX2
(ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2). The clock and the core are still this
machine's, so compare the rows with each other, not with another machine. Prints; never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.device import describe_cpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OLD = ["depth=1", "g_steps=2", "lr_d=2e-4", "lr_g=2e-4", "batch_size=64", "auto_images=300000"]


def _env(fp32_only: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if fp32_only:
        env.update(ONEDNN_MAX_CPU_ISA="AVX2", MKL_ENABLE_INSTRUCTIONS="AVX2")
    return env


def _run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _scores(target: list[str], n: int, env: dict, out: Path) -> dict:
    js = out.with_suffix(".json")
    subprocess.run([sys.executable, "-m", "gankit", "eval", *target, "--n", str(n), "--no-memorization",
                    "--json", str(js)], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    r = json.loads(js.read_text())
    return {"fid": r["scores"]["fid"], "floor": r["floor"]["fid"], "classes": r["scores"].get("classes_covered")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32-only", action="store_true", help="emulate a CPU without bf16 (see above)")
    ap.add_argument("--n", type=int, default=5000, help="samples scored per row")
    ap.add_argument("--old", action="store_true", help="also the previous recipe (about 5x longer)")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    env = _env(args.fp32_only)
    root = Path(tempfile.mkdtemp(prefix="gankit-first-run-"))
    extra = ["--set", "precision=fp32"] if args.fp32_only else []
    print(f"CPU: {describe_cpu()}" + ("; emulating a CPU without bf16: fp32, oneDNN and MKL at AVX2"
                                      if args.fp32_only else ""))
    print(f"{'row':8s} {'wall s':>7s} {'img/s':>7s} {'epochs':>6s} {'FID':>6s} {'floor':>6s} {'classes':>7s}")
    recipes = [("default", [])] + ([("old", OLD)] if args.old else [])
    wall_default = None
    for name, sets in recipes:
        out = root / name
        cmd = [sys.executable, "-m", "gankit", "train", "--out", str(out), "--seed", str(args.seed), *extra]
        for kv in sets:
            cmd += ["--set", kv]
        wall = _run(cmd, env)
        wall_default = wall_default or wall
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        last = [r for r in rows if "img_per_s" in r][-1]
        s = _scores([str(out)], args.n, env, out)
        print(f"{name:8s} {wall:7.0f} {last['img_per_s']:7.0f} {last['epoch']:6.0f} {s['fid']:6.2f} "
              f"{s['floor']:6.2f} {s['classes']!s:>7s}", flush=True)
    if not args.no_naive:
        out = root / "naive"
        npz = root / "naive.npz"
        wall = _run([sys.executable, str(ROOT / "bench" / "naive_dcgan.py"), "--dataset", "digits",
                     "--seconds", f"{wall_default:.1f}", "--seed", str(args.seed), "--out", str(out),
                     "--samples", str(npz), "--n", str(args.n)], env)
        info = json.loads((out / "naive.json").read_text())["stats"]
        s = _scores(["--samples", str(npz), "--dataset", "digits"], args.n, env, out)
        rate = info.get("img_per_s", float("nan"))
        print(f"{'naive':8s} {wall:7.0f} {rate:7.0f} {info.get('epochs', float('nan')):6.0f} {s['fid']:6.2f} "
              f"{s['floor']:6.2f} {s['classes']!s:>7s}   (trained for the default's {wall_default:.0f} s)")
    print(f"runs in {root}")


if __name__ == "__main__":
    from entry import run

    run(main)
