"""`--tensorboard`: the metrics rows, evaluation scores and sample grids as TensorBoard events in
RUN/tensorboard/, read back with TensorBoard's own EventAccumulator; resume and rollback continue
the step axis; training is bit for bit the same with it on; a missing package is one line."""

import json
import shutil
import sys

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gankit.errors import UserError
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from tests.helpers import config, image_data, make_trainer
from tests.test_cli import FAST, error_of, run_cli


def _events(folder):
    """(scalars: tag -> [(step, value)], images: tag -> [(step, width, height)]), every event kept."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    images = {t: [(e.step, e.width, e.height) for e in acc.Images(t)] for t in tags["images"]}
    return scalars, images


def _trainer(tmp_path, name="run", **kw):
    data = image_data(n=64, size=8)  # 4 batches of 16 an epoch
    cfg = config(kw.pop("model", "cdcgan"), out=str(tmp_path / name), **kw)
    return make_trainer(cfg, data, RunFolder.create(tmp_path / name, cfg, data.info()), evaluator=object())


@pytest.fixture
def quick_scores(monkeypatch):
    """eval_every without a reference: fixed scores, no samples scored."""
    import gankit.metrics.evaluate as ev

    monkeypatch.setattr(ev, "quick", lambda ref, x, labels: {"fid": 12.5, "classes_covered": 10})


def _same_numbers(logged, rows, key):
    assert [s for s, _ in logged] == [r["step"] for r in rows]
    assert [v for _, v in logged] == pytest.approx([r[key] for r in rows], rel=1e-6)  # float32 in the file


def test_every_metrics_row_evaluation_and_grid_is_logged_at_its_step(tmp_path, quick_scores):
    trainer = _trainer(tmp_path, epochs=3, eval_every=4, tensorboard=True)
    trainer.train()
    run = trainer.run
    rows = run.read_metrics()
    train_rows = [r for r in rows if not r.get("eval")]
    eval_rows = [r for r in rows if r.get("eval")]
    assert [r["step"] for r in train_rows] == [2, 4, 6, 8, 10, 12] and [r["step"] for r in eval_rows] == [4, 8, 12]
    scalars, images = _events(run.tensorboard_dir)
    numeric = [k for k, v in train_rows[-1].items() if k != "step" and isinstance(v, (int, float))]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "img_per_s", "epoch", "images", "time_s"} <= set(numeric)
    for key in numeric:
        _same_numbers(scalars[f"train/{key}"], train_rows, key)
    for key in ("fid", "classes_covered", "epoch", "time_s"):
        _same_numbers(scalars[f"eval/{key}"], eval_rows, key)
    assert "eval/eval" not in scalars  # a flag, not a number
    # a grid after each epoch (steps 4, 8, 12); final.png shows step 12 again and is not repeated
    width, height = Image.open(run.samples_dir / "final.png").size
    assert images == {"samples": [(4, width, height), (8, width, height), (12, width, height)]}


def test_the_step_axis_continues_after_a_resume(tmp_path):
    first = _trainer(tmp_path, max_steps=10, checkpoint_every=4, keep=2, tensorboard=True)
    first.train()
    run = first.run
    run.unlock()
    # killed after logging step 10 but before its checkpoint: the newest checkpoint is step 8's
    shutil.copyfile(run.checkpoint_dir / "step_00000008.safetensors", run.checkpoint())
    cfg, _ = run.read_config()
    cfg.max_steps = 14
    second = make_trainer(cfg, image_data(n=64, size=8), RunFolder.open(run.path))
    second.restore(run.checkpoint())
    second.run.truncate_metrics(second.step)  # as `gankit train --resume` does
    assert second.step == 8
    second.train()

    assert len(list(run.tensorboard_dir.iterdir())) == 2  # a second event file beside the first
    scalars, images = _events(run.tensorboard_dir)
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12, 14]
    for key in ("d_loss", "img_per_s", "time_s"):  # steps 10 and up: the resumed run's numbers only
        _same_numbers(scalars[f"train/{key}"], rows, key)
    assert images == {"samples": [(14, *Image.open(run.samples_dir / "final.png").size)]}  # step 10's is dropped


def test_a_rollback_drops_the_abandoned_steps(tmp_path):
    trainer = _trainer(tmp_path, model="dcgan", max_steps=20, checkpoint_every=5, log_every=2,
                       on_divergence="rollback", tensorboard=True)
    real, hits = trainer.iteration, []

    def iteration(stats):  # G's weights turn NaN once, after step 13
        real(stats)
        if trainer.step == 13 and not hits:
            hits.append(13)
            with torch.no_grad():
                next(trainer.nets["G"].parameters()).fill_(float("nan"))

    trainer.iteration = iteration
    trainer.train()
    assert trainer.rollbacks == 1
    rows = trainer.run.read_metrics()
    scalars, _ = _events(trainer.run.tensorboard_dir)
    _same_numbers(scalars["train/d_loss"], [r for r in rows if "event" not in r], "d_loss")
    assert [s for s, _ in scalars["train/d_loss"]] == list(range(2, 21, 2))  # step 14's NaN row is gone
    event = next(r for r in rows if r.get("event") == "rollback")
    assert event["step"] == 10
    _same_numbers(scalars["rollback/lr_d"], [event], "lr_d")  # the halved rate


def test_tensorboard_does_not_change_training(tmp_path, quick_scores):
    """Same weights, optimizer states, RNG states and metrics with TensorBoard on and off."""
    runs = {}
    for on in (False, True):
        trainer = _trainer(tmp_path, f"tb{on}", epochs=2, eval_every=3, tensorboard=on)
        trainer.train()
        runs[on] = trainer.run
    assert runs[True].tensorboard_dir.is_dir() and not runs[False].tensorboard_dir.exists()
    for which in ("last", "best"):
        off, _ = ckpt.load(runs[False].checkpoint(which))
        on, _ = ckpt.load(runs[True].checkpoint(which))
        assert off.keys() == on.keys()
        for k in off:
            assert torch.equal(off[k], on[k]), (which, k)
    strip = lambda run: [{k: v for k, v in r.items() if k not in ("img_per_s", "s_per_epoch", "time_s")} for r in run.read_metrics()]
    assert strip(runs[False]) == strip(runs[True])


def test_the_flag_and_turning_it_on_at_resume(tmp_path):
    """--tensorboard sets the config key; `--resume RUN --tensorboard` turns it on for a run
    without it (2-D data: the grid is the scatter plot)."""
    on, off = tmp_path / "on", tmp_path / "off"
    run_cli("train", "gan", "--dataset", "ring8", "--out", on, "--tensorboard", *FAST, "--set", "max_steps=10")
    assert json.loads((on / "config.json").read_text())["config"]["tensorboard"] is True
    scalars, images = _events(on / "tensorboard")
    assert [s for s, _ in scalars["train/g_loss"]] == [5, 10] and [s for s, *_ in images["samples"]] == [10]

    run_cli("train", "gan", "--dataset", "ring8", "--out", off, *FAST, "--set", "max_steps=10")
    assert json.loads((off / "config.json").read_text())["config"]["tensorboard"] is False
    assert not (off / "tensorboard").exists()
    run_cli("train", "--resume", off, "--tensorboard")
    assert json.loads((off / "config.json").read_text())["config"]["tensorboard"] is True
    assert [s for s, *_ in _events(off / "tensorboard")[1]["samples"]] == [10]


def test_a_missing_package_is_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    out = tmp_path / "r"
    err = error_of(capsys, "train", "gan", "--dataset", "ring8", "--out", out, "--tensorboard", *FAST)
    assert "pip install tensorboard" in err and not out.exists()
    run_cli("train", "gan", "--dataset", "ring8", "--out", out, *FAST, "--set", "max_steps=2")  # off: not needed
    capsys.readouterr()
    assert "pip install tensorboard" in error_of(capsys, "train", "--resume", out, "--tensorboard")
    assert json.loads((out / "config.json").read_text())["config"]["tensorboard"] is False
    with pytest.raises(UserError, match="pip install tensorboard"):
        _trainer(tmp_path, "lib", tensorboard=True)
