"""kill -9 a training run at 20 seeded random instants across its life, resume each, and check
that it ends bit-identical to the uninterrupted run: every tensor of last.safetensors and
best.safetensors (networks, EMA, optimizers, RNG states) and every metrics row but the timings.

    python bench/kill_points.py [--kills 20] [--seed 0]

The run (dcgan on the bundled digits, 300 steps, one thread) checkpoints every 10 steps, keeps
step copies, scores 200 samples every 50 steps (keeping `best`) and writes a grid every epoch,
so instants land inside checkpoint writes, evaluation and grid writing as well as in training.
Kill k of n falls at a random instant of the k-th n-th of the uninterrupted run's wall time
(start-up included), so the instants spread over its whole life; a run that finished before its
instant (the machine is shared and timings vary) is started again and killed at an earlier random
instant. In every other scenario the first `--resume` is killed too, within its start-up. A
folder that a kill left without a run is started again with the same command; one that exists
must hold config.json.
Prints a markdown table: the instant, what the kill left behind, the step resumed from, and
whether the end is bit-identical.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

ARGS = ["train", "dcgan", "--dataset", "digits", "--seed", "7"] + [
    a for kv in ("max_steps=300", "width=16", "z_dim=32", "batch_size=32", "log_every=10", "checkpoint_every=10",
                 "keep=2", "eval_every=50", "eval_samples=200", "sample_every=1", "threads=1", "device=cpu")
    for a in ("--set", kv)]
TIMING = ("img_per_s", "time_s")


def gankit(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gankit", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_at(proc: subprocess.Popen, seconds: float) -> bool:
    """kill -9 `proc` `seconds` after it started; False if it had already finished."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"gankit failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")


def left_behind(run: Path) -> str:
    """What a kill left: no run, or the temporary files of writes it cut short, else the last log line."""
    if not run.exists():
        temps = list(run.parent.glob(f".{run.name}.*.tmp"))
        return "no run folder" + (" (a temporary one)" if temps else "")
    assert (run / "config.json").is_file(), f"{run} has no config.json"
    temps = sorted(str(p.parent.relative_to(run) / p.name.split(".")[1]) for p in run.rglob(".*")
                   if p.name != ".lock")
    if temps:  # e.g. checkpoints/last, samples/epoch_0003, checkpoints/tmpAb12Cd (safetensors' own)
        return "a write cut short: " + ", ".join(t.removeprefix("./") for t in temps)
    lines = (run / "log.txt").read_text().splitlines() if (run / "log.txt").exists() else []
    return f"after: {lines[-1][21:70]}" if lines else "a run folder, nothing logged yet"


def resume_or_start(run: Path) -> subprocess.Popen:
    return gankit("train", "--resume", str(run)) if run.exists() else gankit(*ARGS, "--out", str(run))


def checkpoint_step(run: Path) -> str:
    """The step of last.safetensors (read with safetensors alone: this script imports no gankit,
    so the gankit it runs is the one `python -m gankit` finds)."""
    path = run / "checkpoints" / "last.safetensors"
    if not path.is_file():
        return "none"
    with safe_open(str(path), framework="pt") as f:
        return str(json.loads(f.metadata()["gankit"])["step"])


def same(a: Path, b: Path) -> bool:
    for name in ("last", "best"):
        ta, tb = (load_file(str(r / "checkpoints" / f"{name}.safetensors")) for r in (a, b))
        if ta.keys() != tb.keys() or not all(torch.equal(ta[k], tb[k]) for k in ta):
            return False
    rows = [[{k: v for k, v in json.loads(line).items() if k not in TIMING}
             for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (a, b)]
    return rows[0] == rows[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gankit-kills-"))
    ref = root / "ref"
    finish(gankit(*ARGS, "--out", str(ref)))  # trains the digits classifier on a first run, then cached
    t0 = time.perf_counter()
    finish(gankit(*ARGS, "--out", str(root / "ref2")))
    life = time.perf_counter() - t0
    rng = random.Random(args.seed)
    print(f"uninterrupted run: {life:.1f} s; kills drawn in [0, {0.97 * life:.1f}] s\n")
    print("| # | killed at (s) | what the kill left | resumed from step | resume killed at (s) | bit-identical |")
    print("| --- | --- | --- | --- | --- | --- |")
    good = 0
    for i in range(1, args.kills + 1):
        run = root / f"k{i:02d}"
        at = (i - 1 + rng.random()) / args.kills * 0.97 * life
        while not kill_at(gankit(*ARGS, "--out", str(run)), at):  # finished first: earlier, afresh
            shutil.rmtree(run)
            at = rng.uniform(0, at)
        left, step = left_behind(run), checkpoint_step(run)
        second = "-"
        if i % 2 == 0:  # kill the resume too, in its start-up (imports, checks, restore)
            again = rng.uniform(0.5, 4.0)
            second = f"{again:.2f}" if kill_at(resume_or_start(run), again) else "finished first"
            left_behind(run)  # a folder that exists must hold config.json
        finish(resume_or_start(run))
        ok = same(ref, run)
        good += ok
        print(f"| {i} | {at:.2f} | {left} | {step} | {second} | "
              f"{'yes' if ok else 'NO'} |", flush=True)
        shutil.rmtree(run)
    print(f"\n{good}/{args.kills} bit-identical to the uninterrupted run")
    shutil.rmtree(root)


if __name__ == "__main__":
    from entry import run

    run(main)
