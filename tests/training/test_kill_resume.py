"""kill -9 a real training process at random moments, or stop it with SIGTERM; resuming ends
bit-identical to one uninterrupted run with the same seed.

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

import pytest
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


def _kill_after(cmd, run, target: int, delay: float, sig=signal.SIGKILL) -> tuple[int, str]:
    """Start `cmd`, wait until the run has logged step `target`, wait `delay`, send `sig` (kill -9);
    returns the exit code and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "gankit", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _last_step(run) < target:
        assert proc.poll() is None, f"training ended before step {target}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.005)
    time.sleep(delay)
    assert proc.poll() is None, "the process finished before it could be killed"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("kill") / "ref"
    main([*ARGS, "--out", str(out)])
    return out


def _resume_to_the_same_end(ref, run) -> None:
    """Resume `run` to its end; it must end as `ref` did, bit for bit."""
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


def test_kill_9_then_resume_is_bit_identical(ref, tmp_path):
    run = tmp_path / "run"

    rng = random.Random(5)  # the kill points: the same every run
    targets = sorted(rng.sample(range(20, STEPS - 150, 10), 3))
    _kill_after([*ARGS, "--out", str(run)], run, targets[0], rng.uniform(0, 0.05))
    for target in targets[1:]:
        _kill_after(["train", "--resume", str(run)], run, target, rng.uniform(0, 0.05))
    _resume_to_the_same_end(ref, run)
    assert (run / "log.txt").read_text().count("resuming") == 3


def test_sigterm_saves_the_step_it_stopped_at_and_resume_is_bit_identical(ref, tmp_path):
    """SIGTERM (kill, a scheduler's time limit, a container's stop) is Ctrl-C: the step ends, `last`
    is saved at that step (here no periodic checkpoint falls before it), exit code 143."""
    run = tmp_path / "run"
    code, err = _kill_after([*ARGS, "--out", str(run), "--set", "checkpoint_every=100000"], run, 200, 0.01,
                            signal.SIGTERM)
    assert code == 143, err
    assert "SIGTERM: stopping after this step" in err and f"gankit train --resume {run}" in err
    step = ckpt.read_meta(run / "checkpoints" / "last.safetensors")["step"]
    assert 200 <= step < STEPS and f"interrupted at step {step}; checkpoint saved" in (run / "log.txt").read_text()
    _resume_to_the_same_end(ref, run)
