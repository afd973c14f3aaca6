"""Divergence: NaN weights and losses, a discriminator that wins outright, collapsed classes; and
what stop, rollback and warn then do."""

import json

import pytest
import torch
from torch.testing import assert_close

from gankit.cli import main
from gankit.config import TrainConfig
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training.divergence import Diverged, DivergenceWatch, json_safe
from tests.helpers import config, image_data, make_trainer


def _trainer(tmp_path, **kw):
    data = image_data(n=64, size=8)
    kw = {"max_steps": 30, "checkpoint_every": 5, "log_every": 2, **kw}
    cfg = config(kw.pop("model", "dcgan"), out=str(tmp_path / "run"), **kw)
    return make_trainer(cfg, data, RunFolder.create(tmp_path / "run", cfg, data.info()))


def _poison_at(trainer, monkeypatch, step, times=1):
    """G's weights turn NaN right after `step`, the first `times` times the run gets there."""
    real, hits = trainer.iteration, []

    def iteration(stats):
        real(stats)
        if trainer.step == step and len(hits) < times:
            hits.append(step)
            with torch.no_grad():
                next(trainer.nets["G"].parameters()).fill_(float("nan"))

    monkeypatch.setattr(trainer, "iteration", iteration)


def test_stop_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    _poison_at(trainer, monkeypatch, 13)
    with pytest.raises(Diverged) as e:
        trainer.train()
    msg = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in msg
    assert "diverged at step 14" in msg and "keeps step 10" in msg and "on_divergence=rollback" in msg
    t, meta = ckpt.load(trainer.run.checkpoint())
    assert meta["step"] == 10 and all(torch.isfinite(v).all() for k, v in t.items() if k.startswith("G."))
    row = trainer.run.read_metrics()[-1]
    assert row["step"] == 14 and "weights" in row["divergence"] and row["d_loss"] is None
    assert "divergence at step 14: non-finite" in trainer.run.log_path.read_text()


def test_non_finite_weights_are_never_saved(tmp_path):
    trainer = _trainer(tmp_path)
    assert trainer.save()
    before = trainer.run.checkpoint().read_bytes()
    with torch.no_grad():
        next(trainer.nets["D"].parameters())[0] = float("inf")
    assert not trainer.save()
    assert trainer.run.checkpoint().read_bytes() == before
    assert "not written at step 0: the weights are not finite" in trainer.run.log_path.read_text()


def test_rollback_reloads_halves_the_rates_and_finishes(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, on_divergence="rollback", lr_d=2e-4, lr_g=4e-4)
    _poison_at(trainer, monkeypatch, 13)
    trainer.train()
    run = trainer.run
    assert trainer.step == 30 and trainer.rollbacks == 1
    assert "rolled back to step 10 (last.safetensors), rollback 1 of 3; lr_d=0.0001 lr_g=0.0002" in run.log_path.read_text()
    cfg, _ = run.read_config()
    assert (cfg.lr_d, cfg.lr_g) == (1e-4, 2e-4)
    assert [g["lr"] for g in trainer.opts["d"].param_groups] == [1e-4]
    rows = run.read_metrics()
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps)  # the abandoned rows are gone
    event = next(r for r in rows if r.get("event") == "rollback")
    assert event["step"] == 10 and event["detected_at"] == 14 and "non-finite" in event["divergence"]
    _, meta = ckpt.load(run.checkpoint())
    assert meta["step"] == 30 and meta["rollbacks"] == 1
    assert meta["opt_g"]["param_groups"][0]["lr"] == 2e-4


def test_rollback_gives_up(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, on_divergence="rollback", max_rollbacks=2, lr_d=2e-4)
    _poison_at(trainer, monkeypatch, 13, times=99)
    with pytest.raises(Diverged, match="after 2 rollbacks; giving up"):
        trainer.train()
    assert trainer.run.log_path.read_text().count("rolled back to step 10") == 2
    assert trainer.run.read_config()[0].lr_d == pytest.approx(2e-4 / 4)


def test_after_a_rollback_the_winning_stretch_is_counted_afresh(tmp_path, monkeypatch):
    # rows from before the rollback point must not count against the halved rates: a stretch that
    # began under the old ones could point before every checkpoint kept
    watch = DivergenceWatch(TrainConfig(log_every=10, d_win_steps=100), num_classes=10)
    watch.replay([_row(s) for s in range(10, 100, 10)])
    watch.forget_wins()
    assert all(watch.check(_row(s)) is None for s in range(100, 190, 10))
    assert watch.check(_row(190))[1] == 90
    trainer = _trainer(tmp_path, lr_g=1e-9, lr_d=1e-2, d_win_steps=20, max_steps=200, keep=5,
                       on_divergence="rollback", max_rollbacks=1)
    window_at_rollback, append = [], trainer._append_metrics
    monkeypatch.setattr(trainer, "_append_metrics", lambda row: (
        window_at_rollback.append(len(trainer.watch.wins)) if row.get("event") == "rollback" else None,
        append(row)))
    with pytest.raises(Diverged, match="after 1 rollback; giving up"):
        trainer.train()
    assert window_at_rollback == [0]  # the replayed rows up to the rollback point were forgotten


def test_rollback_needs_a_checkpoint_from_before(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, on_divergence="rollback", checkpoint_every=1000)
    _poison_at(trainer, monkeypatch, 3)
    with pytest.raises(Diverged, match="no checkpoint from step 2 or before"):
        trainer.train()


def test_discriminator_that_wins_outright_stops_the_run(tmp_path):
    # G cannot learn (lr_g tiny) and D learns fast: D wins outright within a few dozen steps
    trainer = _trainer(tmp_path, lr_g=1e-9, lr_d=1e-2, d_win_steps=20, max_steps=200)
    with pytest.raises(Diverged, match="won outright for 20 steps"):
        trainer.train()
    assert trainer.step < 100
    assert "won outright" in trainer.run.read_metrics()[-1]["divergence"]


def test_warn_logs_and_goes_on(tmp_path):
    trainer = _trainer(tmp_path, lr_g=1e-9, lr_d=1e-2, d_win_steps=20, max_steps=60, on_divergence="warn")
    trainer.train()
    assert trainer.step == 60
    assert "on_divergence=warn: training goes on" in trainer.run.log_path.read_text()
    assert any("divergence" in r for r in trainer.run.read_metrics())


def test_a_far_too_high_learning_rate_ends_with_exit_code_3(tmp_path, capsys):
    """A real run made to diverge: plain SGD at learning rate 100 turns NaN within 10 steps."""
    out = tmp_path / "nan"
    with pytest.raises(SystemExit) as e:
        main(["train", "gan", "--dataset", "ring8", "--out", str(out), "--set", "optimizer=sgd",
              "--set", "lr_d=100", "--set", "lr_g=100", "--set", "log_every=10", "--set", "max_steps=200",
              "--set", "device=cpu"])
    assert e.value.code == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: training diverged at step 10 (non-finite") and "\n" not in err

    def strict(name):
        raise ValueError(f"{name} in metrics.jsonl")

    rows = [json.loads(line, parse_constant=strict) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 10 and rows[-1]["d_loss"] is None and "d_loss" in rows[-1]["divergence"]
    assert not (out / "checkpoints" / "last.safetensors").exists()  # nothing non-finite was saved


def _row(step, acc=1.0, d_fake=0.001, **kw):
    return {"step": step, "d_acc_real": acc, "d_acc_fake": acc, "d_fake": d_fake, "d_loss": 0.01, **kw}


def test_watch_window_tolerates_one_noisy_row_and_replays():
    watch = DivergenceWatch(TrainConfig(log_every=10, d_win_steps=100), num_classes=10)
    for step in range(10, 100, 10):
        assert watch.check(_row(step, acc=0.5 if step == 40 else 1.0)) is None
    reason, good_until = watch.check(_row(100))
    assert "won outright for 100 steps" in reason and good_until == 0
    assert watch.check(_row(110)) is None  # warned once; the stretch starts over
    fresh = DivergenceWatch(TrainConfig(log_every=10, d_win_steps=100), num_classes=10)
    fresh.replay([_row(s) for s in range(10, 100, 10)] + [{"step": 95, "event": "rollback"}])
    assert fresh.check(_row(100)) is not None  # a resumed run remembers the stretch


@pytest.mark.parametrize("loss", ["least-squares", "hinge"])
def test_a_g_loss_that_does_not_saturate_is_not_watched_for_a_winning_d(loss):
    watch = DivergenceWatch(TrainConfig(log_every=10, d_win_steps=100, loss=loss), num_classes=10)
    assert all(watch.check(_row(step)) is None for step in range(10, 300, 10))


def test_stats_read_each_loss_on_its_own_scale():
    from gankit.objectives.base import logit_stats

    real, fake = torch.tensor([1.0, 0.9, 0.2]), torch.tensor([0.0, 0.1, 0.7])  # least squares: targets 1, 0
    ls = logit_stats(real, fake, "least-squares")
    assert_close(ls["d_acc_real"], torch.tensor(2 / 3))
    assert_close(ls["d_acc_fake"], torch.tensor(2 / 3))
    assert_close(ls["d_fake"], fake.mean())  # its raw score: 0 is the fake target
    hinge = logit_stats(torch.tensor([1.5, 2.0]), torch.tensor([-1.0, -3.0]), "hinge")
    assert float(hinge["d_acc_real"]) == float(hinge["d_acc_fake"]) == 1.0 and float(hinge["d_fake"]) == -2.0
    ce = logit_stats(torch.tensor([0.0]), torch.tensor([0.0]))
    assert float(ce["d_real"]) == 0.5 and float(ce["d_acc_fake"]) == 1.0  # a logit of 0 calls it fake


def test_watch_collapsed_classes_and_non_finite_numbers():
    watch = DivergenceWatch(TrainConfig(log_every=10), num_classes=10)
    assert watch.check({"step": 10, "classes_covered": 1}) is None  # early blobs: not a collapse
    assert watch.check({"step": 30, "classes_covered": 7}) is None
    assert watch.check({"step": 50, "d_loss": 0.5}) is None  # a training row between the evaluations
    reason, good_until = watch.check({"step": 60, "classes_covered": 2})
    assert reason == "samples cover only 2 of 10 classes (earlier 7)" and good_until == 30  # the last that passed
    two_classes = DivergenceWatch(TrainConfig(log_every=10), num_classes=2)
    assert two_classes.check({"step": 60, "classes_covered": 2}) is None  # 2 of 2 is no collapse
    reason, _ = watch.check({"step": 70, "d_loss": float("nan"), "g_loss": float("inf")})
    assert reason == "non-finite d_loss, g_loss"
    assert watch.check({"step": 80, "d_loss": 0.5}, weights_finite=False)[0] == "non-finite weights"
    assert json_safe({"a": float("nan"), "b": 1.5, "c": "x"}) == {"a": None, "b": 1.5, "c": "x"}


def test_classes_collapsing_in_an_evaluation_stop_the_run(tmp_path, monkeypatch):
    import gankit.metrics.evaluate as ev

    covered = iter([10, 9, 1])  # the third evaluation finds one class left
    monkeypatch.setattr(ev, "quick", lambda ref, x, labels: {"fid": 5.0, "classes_covered": next(covered)})
    data = image_data(n=64, size=8)
    cfg = config("dcgan", out=str(tmp_path / "run"), max_steps=30, checkpoint_every=5, log_every=2, eval_every=4)
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "run", cfg, data.info()), evaluator=object())
    with pytest.raises(Diverged, match="cover only 1 of 10 classes"):
        trainer.train()
    evals = [r for r in trainer.run.read_metrics() if r.get("eval")]
    assert [r["step"] for r in evals] == [4, 8, 12] and "divergence" in evals[-1]
    _, best = ckpt.load(trainer.run.checkpoint("best"))
    assert best["step"] == 4  # equal FIDs later are not better, and the collapsed one never is
