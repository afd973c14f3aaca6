"""torchrun: two CPU processes (gloo) train what one process trains on the same global batch.

One `python -m torch.distributed.run --nproc_per_node 2` runs every command of this module in
turn (tests/training/torchrun_jobs.py), so torch is imported once per process: the first in
torchrun's own rendezvous, exactly as `torchrun -m gankit train ...`, the others on fresh ports.

What "the same" means: one process on the same global batch, drawing z as the two ranks do
(rank r's half from a generator seeded seed + 1 + r). BatchNorm normalises per rank unless
`sync_bn` is on, so the DCGAN comparison runs with sync_bn and the vanilla GAN (MLPs, no batch
norm, no dropout on 2-D points) without it. The remaining difference is float summation order
(an all_reduce of two half-batch gradients against one full-batch gradient): every weight,
buffer and EMA weight agrees within 1e-5 (measured: 1.1e-6 in the GAN's D, 1.1e-8 for DCGAN),
a twentieth of what one Adam step at lr 2e-4 can move a weight, and every logged loss within
1e-5 (metrics.jsonl keeps 6 decimals; measured: equal, or 1e-6 apart in the last one).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit.commands import _training_data
from gankit.algorithms import MODELS
from gankit.errors import UserError
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training import distributed
from gankit.data.batches import BatchSampler
from gankit.training.loop import Trainer
from tests.helpers import config, make_trainer

TOLERANCE = 1e-5  # max |difference| of any weight or buffer (see the docstring)
TINY = ["--set", "z_dim=16", "--set", "width=8", "--set", "precision=fp32", "--set", "device=cpu",
        "--set", "grid_size=16", "--seed", "3"]
# digits: 1437 images, 11 batches of 128 an epoch; log rows every 3 steps leave the logging
# interval half-filled at the end of each epoch, so a resume must restore it on every rank
# at the rate and networks the tolerance was measured for (Adam 2e-4, depth 1, 2 G steps): at
# digits' newer default (2e-3, depth 0, 1 G step) the summation-order difference grew to 2.3e-3
# within the two epochs
DCGAN = [*TINY, "--set", "batch_size=128", "--set", "log_every=3", "--set", "sync_bn=true",
         "--set", "lr_d=2e-4", "--set", "lr_g=2e-4", "--set", "depth=1", "--set", "g_steps=2"]
GAN = [*TINY, "--set", "batch_size=32", "--set", "max_steps=6", "--set", "log_every=2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(jobs: list[list[str]], out: Path, world: int = 2) -> list[list[dict]]:
    """One `python -m torch.distributed.run` whose ranks run every command in turn (the first in
    torchrun's own rendezvous, the others on fresh ports); per command, each rank's result."""
    spec = [{"argv": argv, "port": None if i == 0 else _free_port()} for i, argv in enumerate(jobs)]
    (out / "jobs.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k not in distributed.ENV}
    # the script's folder, not the working directory, starts sys.path: import the gankit beside
    # these tests, not another copy installed elsewhere
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(world),
         "--master-port", str(_free_port()), str(Path(__file__).with_name("torchrun_jobs.py")),
         str(out / "jobs.json"), str(out)], capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    per_rank = [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
    return [list(r) for r in zip(*per_rank)]


class TwoRankNoise(Trainer):
    """One process on the global batch, drawing z as 2 ranks do: rank r's half from seed + 1 + r."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        gens = [torch.Generator().manual_seed(self.cfg.seed + 1 + r) for r in range(2)]
        z_dim = self.cfg.z_dim
        self.algo.latents = lambda n, gen: torch.cat([torch.randn(n // 2, z_dim, generator=g) for g in gens])


def _one_process(run_dir: Path, out: Path) -> Path:
    cfg, _ = RunFolder.open(run_dir).read_config()
    cfg.out = str(out)
    data = _training_data(cfg)
    run = RunFolder.create(out, cfg, data.info())
    TwoRankNoise(cfg, data, run, MODELS.get(cfg.model)).train()
    run.unlock()
    return out


def _max_difference(a_run: Path, b_run: Path) -> float:
    a, _ = ckpt.load(a_run / "checkpoints" / "last.safetensors")
    b, _ = ckpt.load(b_run / "checkpoints" / "last.safetensors")
    keys = [k for k in b if k.startswith(("G.", "D.", "G_ema.")) and b[k].is_floating_point()]
    assert keys and all(k in a for k in keys)
    return max((a[k].double() - b[k].double()).abs().max().item() for k in keys)


def _losses(run: Path) -> list[dict]:
    keep = ("step", "d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake")
    return [{k: r[k] for k in keep if k in r} for r in RunFolder.open(run).read_metrics()]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Every torchrun command of this module, run once on two ranks: {name: (results, folder)}."""
    root = tmp_path_factory.mktemp("torchrun")
    # a run that one process trained for 2 of its 6 steps, whose metrics.jsonl cannot be written
    # any more: resuming it on two ranks, rank 0 fails to write and every rank must stop
    broken = root / "broken"
    cfg = config("gan", out=str(broken), dataset="ring8", batch_size=32, z_dim=16, max_steps=2)
    data = _training_data(cfg)
    run = RunFolder.create(broken, cfg, data.info())
    make_trainer(cfg, data, run).train()
    run.unlock()
    body = json.loads((broken / "config.json").read_text())
    body["config"]["max_steps"] = 6
    (broken / "config.json").write_text(json.dumps(body))
    (broken / "metrics.jsonl").unlink()
    (broken / "metrics.jsonl").mkdir()

    jobs = {
        "gan": ["train", "gan", "--dataset", "ring8", "--out", str(root / "gan"), *GAN, "--tensorboard"],
        "half": ["train", "dcgan", "--dataset", "digits", "--out", str(root / "dcgan"), "--epochs", "1", *DCGAN],
        "exists": ["train", "dcgan", "--dataset", "digits", "--out", str(root / "dcgan"), *DCGAN],
        "resumed": ["train", "--resume", str(root / "dcgan"), "--epochs", "2"],
        "whole": ["train", "dcgan", "--dataset", "digits", "--out", str(root / "whole"), "--epochs", "2", *DCGAN],
        "broken": ["train", "--resume", str(broken)],
    }
    return {name: (r, root) for name, r in zip(jobs, _torchrun(list(jobs.values()), root))}


def _ok(result: list[dict]) -> None:
    for rank, r in enumerate(result):
        assert r["code"] == 0, f"rank {rank}: {r['stderr'][-2000:]}"


def _matches_one_process(run: Path, tmp_path: Path) -> None:
    one = _one_process(run, tmp_path / "one")
    assert _max_difference(run, one) <= TOLERANCE
    logged, expected = _losses(run), _losses(one)
    assert len(logged) == len(expected) > 1
    for a, b in zip(logged, expected):  # metrics are averaged over the ranks
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) <= 1e-5 for k in a), (a, b)


def test_dcgan_with_sync_bn_trains_and_resumes_as_one_process_does(ranks, tmp_path):
    """DCGAN with batch statistics over the global batch, 1 epoch and then `--resume --epochs 2`
    on two ranks: weights, buffers and EMA within TOLERANCE of one process training 2 epochs on
    the same global batches, the same losses logged. The resume restored rank 1's noise state
    and both ranks' half-filled logging interval (else z, or the logged means, would differ)."""
    for name in ("half", "resumed"):
        _ok(ranks[name][0])
    root = ranks["half"][1]
    t, meta = ckpt.load(root / "dcgan" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 22 and meta["world_size"] == 2
    assert "rank1.rng.gen" in t and "rank1.stats.d_loss" in t
    _matches_one_process(root / "dcgan", tmp_path)
    # rank 0 alone wrote the folder and held its lock
    assert int((root / "dcgan" / ".lock").read_text()) == ranks["resumed"][0][0]["pid"]
    assert {p.name for p in (root / "dcgan" / "samples").iterdir()} == {"epoch_0001.png", "epoch_0002.png", "final.png"}


def test_resume_under_torchrun_is_bit_exact(ranks):
    """1 epoch + `--resume --epochs 2` == 2 epochs in one go, on two ranks: every tensor of the
    checkpoints (rank 1's RNG and half-filled stats included) and every logged number."""
    _ok(ranks["whole"][0])
    root = ranks["whole"][1]
    a, _ = ckpt.load(root / "whole" / "checkpoints" / "last.safetensors")
    b, _ = ckpt.load(root / "dcgan" / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("img_per_s", "s_per_epoch", "time_s")} for r in rows]
    assert strip(RunFolder.open(root / "whole").read_metrics()) == strip(RunFolder.open(root / "dcgan").read_metrics())


def test_torchrun_trains_gan_as_one_process_does(ranks, tmp_path):
    """`gankit train gan` in torchrun's own rendezvous (MLPs, no batch norm): within TOLERANCE of
    one process on the same global batch; rank 0 alone prints and writes TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result, root = ranks["gan"]
    _ok(result)
    assert "batch 32 = 2 processes x 16" in result[0]["stdout"]
    assert "done (reached max_steps=6)" in result[0]["stdout"] and result[1]["stdout"] == ""
    rows = RunFolder.open(root / "gan").read_metrics()
    assert [r["step"] for r in rows] == [2, 4, 6]
    events = list((root / "gan" / "tensorboard").iterdir())
    assert len(events) == 1 and f".{result[0]['pid']}." in events[0].name  # rank 0's file, alone
    acc = EventAccumulator(str(root / "gan" / "tensorboard"))
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars("train/d_loss")]
    assert logged == [(r["step"], pytest.approx(r["d_loss"], rel=1e-6)) for r in rows]  # the ranks' mean
    _matches_one_process(root / "gan", tmp_path)


def test_an_error_on_rank0_ends_every_rank_with_its_line(ranks):
    """Before training (the folder exists) and while training (rank 0 cannot write its metrics):
    both ranks exit with code 2 and the same one-line message; nothing hangs."""
    for name, words in (("exists", "already exists"), ("broken", "metrics.jsonl")):
        result, _ = ranks[name]
        lines = [r["stderr"].strip().splitlines() for r in result]
        assert [r["code"] for r in result] == [2, 2], lines
        assert lines[0] == lines[1] and len(lines[0]) == 1, lines
        assert lines[0][0].startswith("gankit: error: ") and words in lines[0][0]


def test_ranks_take_disjoint_slices_of_the_same_batches():
    one = BatchSampler(100, 32, seed=4)
    halves = [BatchSampler(100, 32, seed=4, rank=r, world=2) for r in range(2)]
    for _ in range(5):  # across an epoch boundary (3 batches an epoch)
        assert torch.equal(torch.cat([h.next() for h in halves]), one.next())
    assert all((h.epoch, h.pos) == (one.epoch, one.pos) for h in halves)


def test_torchrun_settings_are_checked_before_the_group_starts(monkeypatch):
    for k in distributed.ENV:
        monkeypatch.delenv(k, raising=False)
    assert distributed.from_env() is None  # no torchrun: one process, as always
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert distributed.from_env() is None  # --nproc_per_node 1 is one process too
    monkeypatch.setenv("WORLD_SIZE", "3")
    dist = distributed.from_env()
    assert (dist.world_size, dist.rank, dist.is_rank0) == (3, 0, True)
    with pytest.raises(UserError, match="batch_size 32 does not divide by the 3 processes"):
        distributed.check(config("gan", batch_size=32), dist, 1000)
    with pytest.raises(UserError, match="multiple of pack=3"):
        distributed.check(config("gan", batch_size=6, pack=3), dist, 1000)
    with pytest.raises(UserError, match="cuda:LOCAL_RANK"):
        dist.resolve_device("cuda:1")
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(UserError, match="must be integers"):
        distributed.from_env()
