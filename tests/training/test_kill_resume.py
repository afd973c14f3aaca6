"""kill -9 a real training process at random moments; resuming ends bit-identical to one
uninterrupted run with the same seed.

What makes it hold: a checkpoint is one file written by rename, so a kill leaves the old one or the
new one; it holds the RNG states, the optimizers, the sampler's (epoch, pos) and the half-filled
logging interval; resume drops the metrics rows logged after it; and the run folder's lock dies
with the process."""

import json
import random
import signal
import subprocess
import sys
import time

import torch

from gankit.cli import main
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt

STEPS = 600
ARGS = ["train", "gan", "--dataset", "ring8", "--seed", "3"] + [
    a for kv in ("max_steps=600", "log_every=10", "checkpoint_every=25", "threads=1",
                 "precision=fp32", "device=cpu", "z_dim=8", "batch_size=32")
    for a in ("--set", kv)]


def _last_step(run) -> int:
    """The newest step in metrics.jsonl (0 before the first row)."""
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return json.loads(line)["step"]
        except (ValueError, KeyError):
            continue  # a line the kill cut short
    return 0


def _kill_after(cmd, run, target: int, delay: float) -> None:
    """Start `cmd`, wait until the run has logged step `target`, wait `delay`, kill -9."""
    proc = subprocess.Popen([sys.executable, "-m", "gankit", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _last_step(run) < target:
        assert proc.poll() is None, f"training ended before step {target}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.005)
    time.sleep(delay)
    assert proc.poll() is None, "the process finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def test_kill_9_then_resume_is_bit_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    main([*ARGS, "--out", str(ref)])

    rng = random.Random(5)  # the kill points: the same every run
    targets = sorted(rng.sample(range(20, STEPS - 150, 10), 3))
    _kill_after([*ARGS, "--out", str(run)], run, targets[0], rng.uniform(0, 0.05))
    for target in targets[1:]:
        _kill_after(["train", "--resume", str(run)], run, target, rng.uniform(0, 0.05))
    done = subprocess.run([sys.executable, "-m", "gankit", "train", "--resume", str(run)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    a, meta_a = ckpt.load(ref / "checkpoints" / "last.safetensors")
    b, meta_b = ckpt.load(run / "checkpoints" / "last.safetensors")
    assert meta_a["step"] == meta_b["step"] == STEPS
    assert a.keys() == b.keys()
    for k in a:  # G, D, the EMA, both optimizers, the RNG states
        assert torch.equal(a[k], b[k]), k
    timing = ("img_per_s", "s_per_epoch", "time_s")
    rows = lambda r: [{k: v for k, v in row.items() if k not in timing} for row in RunFolder(r).read_metrics()]
    assert rows(ref) == rows(run)
    assert not list((run / "checkpoints").glob(".*tmp*"))  # no half-written files left behind
    assert (run / "log.txt").read_text().count("resuming") == 3
