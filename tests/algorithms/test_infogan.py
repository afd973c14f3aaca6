"""InfoGAN: latents with codes, Q trained in G's step, a code that learns the classes, sampling by
code, traversal grids, exact resume, and the algorithm's own config keys."""

import json

import numpy as np
import pytest
import torch

import gankit
from gankit.algorithms import MODELS
from gankit.algorithms.infogan import InfoGAN, random_affine
from gankit.errors import UserError
from gankit.metrics.modes import matched_accuracy
from gankit.runs import RunFolder
from tests.algorithms.test_acgan import two_classes
from tests.helpers import config, image_data, make_trainer, train_to
from tests.test_cli import FAST, error_of, run_cli


def algo(**options):
    cfg = config("infogan", options=options)
    return cfg, InfoGAN(cfg, image_data(n=16, size=8).info(), MODELS.get("infogan"))


def test_latents_carry_a_one_hot_code_and_uniform_continuous_codes():
    cfg, a = algo(categories=4, continuous=3)
    z = a.latents(500, torch.Generator().manual_seed(0))
    assert z.shape == (500, cfg.z_dim + 4 + 3)
    onehot, cont = z[:, cfg.z_dim:cfg.z_dim + 4], z[:, cfg.z_dim + 4:]
    assert torch.equal(onehot.sum(1), torch.ones(500)) and set(onehot.unique().tolist()) == {0.0, 1.0}
    assert cont.min() >= -1 and cont.max() <= 1 and cont.std() > 0.5
    assert torch.equal(a.codes_of(z), onehot.argmax(1))
    assert set(a.codes_of(z).tolist()) == {0, 1, 2, 3}


def test_codes_are_set_by_name_and_bad_ones_refused():
    cfg, a = algo()
    z = a.with_codes(a.latents(8, torch.Generator().manual_seed(0)), {"cat": 3, "c2": 0.5})
    assert a.codes_of(z).tolist() == [3] * 8
    assert torch.all(z[:, cfg.z_dim + 10 + 1] == 0.5)
    for bad, msg in [({"cat": 10}, "0..9"), ({"cat": 1.5}, "whole number"), ({"c3": 0.0}, "c1, c2"),
                     ({"c1": 99.0}, r"\[-10, 10\]")]:
        with pytest.raises(UserError, match=msg):
            a.with_codes(z, bad)


def test_grid_rows_are_categories_with_the_same_noise_in_each_column():
    cfg, a = algo()
    z = a.grid_latents(100, torch.Generator().manual_seed(0))
    assert a.codes_of(z).tolist() == [r for r in range(10) for _ in range(10)]
    assert torch.equal(z[0, :cfg.z_dim], z[90, :cfg.z_dim]) and not torch.equal(z[0], z[1])


@pytest.mark.parametrize("options,msg", [({"categories": 1}, "categories"), ({"lambda_cat": -1.0}, "lambda_cat"),
                                         ({"categories": 0, "continuous": 0}, "at least one code"),
                                         ({"code_augment": 3.0}, "code_augment"),
                                         ({"nope": 1}, "does not take")])
def test_bad_options_are_one_line_errors(options, msg):
    with pytest.raises(UserError, match=msg):
        algo(**options)


def test_q_trains_with_g_and_d_body_is_frozen_in_g_step(tmp_path):
    data = image_data(n=32, size=8, classes=0)
    cfg = config("infogan", out=str(tmp_path / "r"), precision="fp32")
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    g_params = {id(p) for g in trainer.opts["g"].param_groups for p in g["params"]}
    nets = trainer.nets
    assert g_params == {id(p) for n in ("G", "Q") for p in nets[n].parameters()}
    assert {id(p) for g in trainer.opts["d"].param_groups for p in g["params"]} == {id(p) for p in nets["D"].parameters()}
    q0 = [p.detach().clone() for p in nets["Q"].parameters()]
    trainer.iteration({})
    assert all(not torch.equal(a, b) for a, b in zip(q0, nets["Q"].parameters()) if a.dim() > 1)
    assert all(p.requires_grad for p in nets["D"].parameters())  # unfrozen after G's phase


def test_random_affine_warps_each_image_its_own_way_from_the_generator():
    g = torch.Generator().manual_seed(0)
    x = torch.full((6, 1, 12, 12), -1.0)
    x[:, :, 4:8, 5:7] = 1.0  # a bar in the middle of a black frame
    assert torch.allclose(random_affine(x, 0.0, g), x, atol=1e-5)  # strength 0: the identity
    a = random_affine(x, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, random_affine(x, 1.0, torch.Generator().manual_seed(1)))  # from the generator alone
    assert not torch.allclose(a[0], a[1])  # each image its own warp
    assert a.min() >= -1 - 1e-6 and a.max() <= 1 + 1e-6
    assert torch.allclose(a[:, :, 0, :], torch.full_like(a[:, :, 0, :], -1.0))  # black comes in at the edges
    assert (a + 1).sum() == pytest.approx((x + 1).sum().item(), rel=0.35)  # the bar moved, not lost
    x.requires_grad_(True)
    random_affine(x, 1.0, g).sum().backward()  # G learns through the warp
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_code_augment_adds_the_warped_code_term_to_g_s_step(tmp_path, strength):
    data = image_data(n=32, size=8, classes=0)
    cfg = config("infogan", out=str(tmp_path / "r"), precision="fp32", max_steps=2, log_every=2,
                 options={"code_augment": strength})
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    trainer.train()
    trainer.run.unlock()
    row = trainer.run.read_metrics()[-1]
    assert ("info_warp_loss" in row) == bool(strength)
    if strength:
        assert row["info_warp_loss"] > 0


def test_the_categorical_code_learns_the_two_classes(tmp_path):
    data = two_classes(n=128)
    cfg = config("infogan", out=str(tmp_path / "r"), precision="fp32", max_steps=150, log_every=50,
                 options={"categories": 2, "continuous": 1})
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    trainer.train()
    trainer.run.unlock()
    assert trainer.run.read_metrics()[-1]["info_cat_acc"] > 0.9
    m = gankit.load(tmp_path / "r", "last")
    pred = m.algo.predict_codes(m.nets, data.x.float() / 127.5 - 1)
    assert matched_accuracy(pred, data.labels, 2, 2)[0] >= 0.9
    assert (tmp_path / "r" / "traversal_c1.png").is_file()


def _train(tmp_path, name, steps, resume=False):
    data = image_data(n=48, size=8, classes=0)
    cfg = config("infogan", out=str(tmp_path / name), max_steps=steps, log_every=3, precision="fp32")
    return train_to(cfg, data, resume)


def test_resume_is_exact(tmp_path):
    whole = _train(tmp_path, "whole", 6)
    _train(tmp_path, "split", 3)
    again = _train(tmp_path, "split", 6, resume=True)
    theirs = again.state_tensors()
    assert any(k.startswith("Q.") for k in theirs)
    for k, v in whole.state_tensors().items():
        assert torch.equal(v, theirs[k]), k


@pytest.fixture(scope="module")
def infogan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "i"
    run_cli("train", "infogan", "--dataset", "digits", "--epochs", "1", "--out", out, *FAST,
            "--set", "categories=5", "--set", "lambda_cont=0.5")
    return out


def test_own_keys_are_saved_in_the_config(infogan_run):
    options = json.loads((infogan_run / "config.json").read_text())["config"]["options"]
    assert options == {"categories": 5, "continuous": 2, "lambda_cat": 1.0, "lambda_cont": 0.5, "q_step": "g",
                       "code_augment": 1.0}
    assert gankit.load(infogan_run).algo.options.categories == 5


def test_sample_by_code_writes_codes(infogan_run, tmp_path):
    run_cli("sample", infogan_run, "--n", "12", "--out", tmp_path / "a.npz", "--code", "cat=3,c1=0.5")
    run_cli("sample", infogan_run, "--n", "50", "--out", tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as f:
        assert f["codes"].dtype == np.int64 and f["codes"].tolist() == [3] * 12
        assert f["images"].shape == (12, 8, 8)
    with np.load(tmp_path / "b.npz") as f:
        assert f["codes"].shape == (50,) and set(f["codes"].tolist()) == set(range(5))
    m = gankit.load(infogan_run)
    assert np.array_equal(m.codes(50), np.load(tmp_path / "b.npz")["codes"])
    assert np.array_equal(m.sample(12, code={"cat": 3, "c1": 0.5}), np.load(tmp_path / "a.npz")["images"])


def test_code_errors_are_one_line(infogan_run, cdcgan_run, capsys, tmp_path):
    out = tmp_path / "x.npz"
    assert "cat must be" in error_of(capsys, "sample", infogan_run, "--out", out, "--code", "cat=7")
    assert "name=value" in error_of(capsys, "sample", infogan_run, "--out", out, "--code", "cat")
    assert "name=value" in error_of(capsys, "sample", infogan_run, "--out", out, "--code", "cat=nan")
    assert "no latent codes" in error_of(capsys, "sample", cdcgan_run, "--out", out, "--code", "cat=1")
    assert "categories" in error_of(capsys, "train", "dcgan", "--dataset", "digits", "--out", tmp_path / "d",
                                    "--set", "categories=4")
    assert not (tmp_path / "d").exists()


from tests.test_cli import cdcgan_run  # noqa: E402,F401  (the fixture, shared)
