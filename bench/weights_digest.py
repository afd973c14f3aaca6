"""Train a few fixed-seed, fixed-step runs and print a digest of every network, optimizer, RNG state
and metrics row: run it on two commits on the same machine to check that a refactor changed no
update bit for bit.

    python bench/weights_digest.py > before.txt   (on the old commit)
    python bench/weights_digest.py > after.txt    (on the new one)
    diff before.txt after.txt

Digests depend on the CPU (bf16 or fp32 kernels): compare only runs from one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

RUNS = {
    "gan": ["gan", "--set", "max_steps=40", "--set", "log_every=10"],
    "dcgan": ["dcgan", "--set", "max_steps=30", "--set", "log_every=10"],
    "dcgan-selfcond": ["dcgan", "--set", "max_steps=20", "--set", "clusters=4", "--set", "log_every=10"],
    "cdcgan": ["cdcgan", "--set", "max_steps=30", "--set", "log_every=10"],
    "wgan-gp": ["wgan-gp", "--set", "max_steps=10", "--set", "log_every=5"],
    "wgan-ring8": ["wgan", "--dataset", "ring8", "--set", "max_steps=20", "--set", "log_every=5"],
    "gan-variant": ["gan", "--set", "max_steps=20", "--set", "d_steps=2", "--set", "g_steps=2",
                    "--set", "fresh_z=true", "--set", "loss=hinge", "--set", "log_every=5"],
}
GROUPS = ("G.", "D.", "G_ema.", "opt_d.", "opt_g.", "rng.")


def digest(run: Path) -> dict:
    # hashes the tensors itself rather than with training/checkpoint.py's tensor_digest, so this
    # one file runs unchanged against any commit, including those older than that function
    t = load_file(str(run / "checkpoints" / "last.safetensors"))
    out = {}
    for group in GROUPS:
        h = hashlib.sha256()
        keys = sorted(k for k in t if k.startswith(group))
        for k in keys:
            h.update(k.encode())
            h.update(t[k].contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        out[group] = f"{len(keys)} tensors {h.hexdigest()[:16]}"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if k not in ("img_per_s", "s_per_epoch", "time_s")} for r in rows]
    out["metrics"] = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=",".join(RUNS), help="which of: " + ", ".join(RUNS))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gankit-digest-"))
    for name in args.runs.split(","):
        argv = RUNS[name]
        data = [] if "--dataset" in argv else ["--dataset", "digits"]
        subprocess.run([sys.executable, "-m", "gankit", "train", *argv, *data, "--out", str(root / name)],
                       check=True, stdout=subprocess.DEVNULL)
        for group, value in digest(root / name).items():
            print(f"{name:15s} {group:8s} {value}", flush=True)


if __name__ == "__main__":
    from entry import run

    run(main)
