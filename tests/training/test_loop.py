"""The loop: exact resume, run folder contents, budgets, epochs."""

import json
import os
import signal

import pytest
import torch

from gankit.runs import RunFolder
from gankit.data.batches import BatchSampler
from gankit.training.loop import Trainer
from tests.helpers import config, image_data, make_trainer


def _trainer(tmp_path, name, data, **kw):
    cfg = config(kw.pop("model", "cdcgan"), out=str(tmp_path / name), **kw)
    return make_trainer(cfg, data, RunFolder.create(tmp_path / name, cfg, data.info()))


def _state(trainer):
    t = trainer.state_tensors()
    for name, opt in (("opt_d", trainer.opts["d"]), ("opt_g", trainer.opts["g"])):
        for i, s in opt.state_dict()["state"].items():
            for k, v in s.items():
                t[f"{name}.{i}.{k}"] = v
    return t


@pytest.mark.parametrize("model,precision,fast,clusters", [
    ("cdcgan", "fp32", False, 0), ("cdcgan", "bf16", False, 0), ("wgan-gp", "fp32", False, 0),
    ("gan", "fp32", False, 0), ("dcgan", "bf16", True, 0), ("dcgan", "bf16", False, 4),
    ("acgan", "fp32", False, 0), ("hinge", "bf16", False, 0)])
def test_resume_is_bit_exact(tmp_path, model, precision, fast, clusters):
    """N steps, stop, resume, N more steps == 2N steps in one go, tensor for tensor (also with
    channels_last and fused optimizers, and self-conditioned on clusters found again on resume)."""
    data = image_data(n=80, size=8)  # 5 batches an epoch: the run crosses epoch boundaries
    n = 7
    kw = dict(model=model, precision=precision, channels_last=fast, fused=fast, clusters=clusters)
    whole = _trainer(tmp_path, "whole", data, max_steps=2 * n, **kw)
    whole.train()

    first = _trainer(tmp_path, "split", data, max_steps=n, **kw)
    first.train()
    cfg, _ = RunFolder.open(tmp_path / "split").read_config()
    cfg.max_steps = 2 * n
    second = make_trainer(cfg, data, RunFolder.open(tmp_path / "split"))
    second.restore(second.run.checkpoint())
    assert second.step == n
    second.train()

    a, b = _state(whole), _state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the metrics logged after the resume are the same numbers
    rows_a = [r for r in whole.run.read_metrics() if r["step"] > n]
    rows_b = [r for r in second.run.read_metrics() if r["step"] > n]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("img_per_s", "s_per_epoch", "time_s")} for r in rows]
    assert strip(rows_a) == strip(rows_b)


def test_run_folder_tells_the_story(tmp_path):
    data = image_data(n=64, size=8)
    trainer = _trainer(tmp_path, "run", data, epochs=3)
    reason = trainer.train()
    assert "3 epochs" in reason
    run = trainer.run
    body = json.loads(run.config_path.read_text())
    assert body["config"]["model"] == "cdcgan" and body["data"]["shape"] == [1, 8, 8]
    assert sorted(p.name for p in run.samples_dir.iterdir()) == [
        "epoch_0001.png", "epoch_0002.png", "epoch_0003.png", "final.png"]
    assert run.losses_png.stat().st_size > 0 and run.checkpoint().is_file()
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == list(range(2, trainer.step + 1, 2))
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake", "img_per_s", "s_per_epoch",
                "epoch"):
        assert key in rows[-1]
    # seconds per epoch: an epoch's images (4 batches of 16) at the row's rate
    assert rows[-1]["s_per_epoch"] == pytest.approx(64 / rows[-1]["img_per_s"], rel=0.02, abs=0.01)
    assert "s/epoch)" in run.log_path.read_text()
    assert 0 <= rows[-1]["d_real"] <= 1
    assert trainer.step == 3 * (64 // 16)  # 3 epochs of 4 batches, one D step each
    assert "stopped at step 12" in run.log_path.read_text()


def test_k_discriminator_steps_consume_k_batches(tmp_path):
    data = image_data(n=64, size=8)
    trainer = _trainer(tmp_path, "k", data, model="gan", d_steps=2, epochs=2)
    trainer.train()
    assert trainer.step == 2 * 4 // 2


def test_sampler_covers_each_epoch_once_and_is_a_function_of_seed_and_epoch():
    s = BatchSampler(10, 3, seed=5)
    first = torch.cat([s.next() for _ in range(3)])
    assert s.epoch == 1 and s.pos == 0 and len(set(first.tolist())) == 9
    again = BatchSampler(10, 3, seed=5)
    assert torch.equal(torch.cat([again.next() for _ in range(3)]), first)
    resumed = BatchSampler(10, 3, seed=5, epoch=0, pos=2)
    assert torch.equal(resumed.next(), first[6:9])


def test_minutes_budget_stops_and_saves(tmp_path):
    data = image_data(n=64, size=8)
    trainer = _trainer(tmp_path, "m", data, minutes=0.001)
    reason = trainer.train()
    assert "minute" in reason and trainer.run.checkpoint().is_file()


def test_interrupt_saves_a_checkpoint(tmp_path, monkeypatch):
    data = image_data(n=64, size=8)
    trainer = _trainer(tmp_path, "i", data, epochs=5)
    real_iteration = trainer.iteration

    def interrupted(stats):
        real_iteration(stats)
        if trainer.step == 3:  # a real Ctrl-C in the middle of training
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(trainer, "iteration", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    from gankit.training import checkpoint

    _, meta = checkpoint.load(trainer.run.checkpoint())
    assert meta["step"] == 3


def test_an_interrupt_during_the_final_evaluation_still_saves_the_end(tmp_path, monkeypatch):
    from gankit.training import checkpoint

    data = image_data(n=64, size=8)
    trainer = _trainer(tmp_path, "f", data, max_steps=5)
    trainer.cfg.eval_every = 4  # set after the trainer is built: no domain classifier for this data
    scored = []

    def evaluate():  # the quick evaluation, faked: Ctrl-C while the end state (step 5) is scored
        scored.append(trainer.step)
        if trainer.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(trainer, "_evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert scored == [4, 5] and checkpoint.read_meta(trainer.run.checkpoint())["step"] == 5


def test_a_resume_keeps_the_lower_fid_bar_of_best_and_last(tmp_path):
    trainer = _trainer(tmp_path, "b", image_data(n=64, size=8), max_steps=2)
    trainer.train()
    trainer.best_fid = 1.0
    trainer.save("best")
    trainer.best_fid = 5.0  # as `last` written before that best, if the run was killed in between
    trainer.save()
    trainer.restore(trainer.run.checkpoint())
    assert trainer.best_fid == 1.0


def test_checkpoints_come_by_the_clock_and_resume_exactly(tmp_path, monkeypatch):
    """With checkpoint_every far away, a checkpoint still comes every checkpoint_minutes of
    training time; a run killed after one resumes from it to the same weights as a run never
    stopped. The clock is faked: 20 s of training per iteration."""
    import types

    from gankit.training import checkpoint, loop

    now = [0.0]

    def tick():
        now[0] += 20.0  # the loop reads the clock once an iteration
        return now[0]

    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=tick))
    data = image_data(n=640, size=8)  # 40 batches an epoch: no epoch-end checkpoint before step 12
    kw = dict(model="dcgan", checkpoint_every=1000, checkpoint_minutes=1.0, max_steps=12)
    whole = _trainer(tmp_path, "whole", data, **kw)
    whole.train()
    saved = []
    killed = _trainer(tmp_path, "killed", data, **kw)
    real_save, real_iteration = killed.save, killed.iteration

    def save(which="last"):
        saved.append(killed.step)
        return real_save(which)

    def iteration(stats):
        if killed.step == 8:
            raise RuntimeError("killed")  # no checkpoint on the way out, as with kill -9
        real_iteration(stats)

    monkeypatch.setattr(killed, "save", save)
    monkeypatch.setattr(killed, "iteration", iteration)
    with pytest.raises(RuntimeError):
        killed.train()
    assert saved == [3, 6]  # every 60 s of training time
    _, meta = checkpoint.load(killed.run.checkpoint())
    assert meta["step"] == 6
    cfg, _ = RunFolder.open(tmp_path / "killed").read_config()
    resumed = make_trainer(cfg, data, RunFolder.open(tmp_path / "killed"))
    resumed.restore(resumed.run.checkpoint())
    resumed.train()
    a, b = _state(whole), _state(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    off = _trainer(tmp_path, "off", data, **dict(kw, checkpoint_minutes=0))
    monkeypatch.setattr(off, "save", lambda which="last": saved.append(("off", off.step)) or True)
    off.train()
    assert saved[2:] == [("off", 12)]  # by steps only: just the end


def test_best_checkpoints_do_not_hold_back_the_clock(tmp_path, monkeypatch):
    """A `best` written at every evaluation is not a resume point: `last` still comes every
    checkpoint_minutes of training time (20 s an iteration, faked), so a kill loses minutes only."""
    import types

    from gankit.training import loop

    now = [0.0]

    def tick():
        now[0] += 20.0
        return now[0]

    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=tick))
    data = image_data(n=640, size=8)
    trainer = _trainer(tmp_path, "best", data, model="dcgan", checkpoint_every=1000, checkpoint_minutes=1.0,
                       max_steps=12)
    trainer.cfg.eval_every = 1  # after construction: the evaluator is faked below
    saved, real_save = [], trainer.save

    def save(which="last"):
        saved.append((which, trainer.step))
        return real_save(which)

    def evaluate():  # a new best FID at every step
        trainer.save("best")
        return {}, None

    monkeypatch.setattr(trainer, "save", save)
    monkeypatch.setattr(trainer, "evaluate", evaluate)
    trainer.train()
    assert [s for w, s in saved if w == "last"] == [3, 6, 9, 12, 12]  # every 60 s, and the end
    assert [s for w, s in saved if w == "best"] == list(range(1, 13))


def test_periodic_checkpoints_keep_the_newest(tmp_path):
    data = image_data(n=64, size=8)
    trainer = _trainer(tmp_path, "keep", data, max_steps=10, checkpoint_every=2, keep=2)
    trainer.train()
    names = sorted(p.name for p in trainer.run.checkpoint_dir.iterdir())
    assert names == ["last.safetensors", "step_00000008.safetensors", "step_00000010.safetensors"]
    none_kept = _trainer(tmp_path, "keep0", data, max_steps=4, checkpoint_every=2, keep=0)
    none_kept.train()
    assert [p.name for p in none_kept.run.checkpoint_dir.iterdir()] == ["last.safetensors"]


def test_channels_last_and_fused_train_like_the_defaults(tmp_path):
    data = image_data(n=64, size=8)
    plain = _trainer(tmp_path, "plain", data, model="dcgan", precision="fp32", max_steps=5)
    fast = _trainer(tmp_path, "fast", data, model="dcgan", precision="fp32", max_steps=5,
                    channels_last=True, fused=True)
    assert next(p for p in fast.nets["D"].parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    plain.train()
    fast.train()
    for (k, a), b in zip(plain.nets["G"].state_dict().items(), fast.nets["G"].state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), k  # same maths, other kernels


def test_compile_falls_back_to_eager_when_it_cannot_compile(monkeypatch):
    from gankit.training import loop

    def broken(module):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    m = torch.nn.Linear(2, 2)
    assert loop.compiled(m) is m


@pytest.mark.parametrize("fresh_z,g_steps,calls", [(False, 1, 1), (True, 1, 2), (False, 2, 2), (True, 2, 3)])
def test_g_steps_reuse_the_d_steps_fake_unless_fresh_z(tmp_path, fresh_z, g_steps, calls):
    trainer = _trainer(tmp_path, "r", image_data(n=64, size=8), model="dcgan", fresh_z=fresh_z, g_steps=g_steps)
    seen = []
    trainer.nets["G"].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    trainer.iteration({})
    assert len(seen) == calls
    # the D step's fake carries a graph only when the first G step reuses it
    assert seen[0] is (not fresh_z)
