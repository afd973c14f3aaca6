"""Unrolled GAN: the functional copy of D steps as D's optimizer would, leaves D alone, carries the
second-order term to G, trains through the run manager and resumes bit for bit."""

import copy

import pytest
import torch

from gankit.algorithms import MODELS, unrolled
from gankit.errors import UserError
from gankit.losses import d_nonsaturating
from gankit.models.dcgan import DCGANDiscriminator
from gankit.models.mlp import MLPDiscriminator
from gankit.runs import RunFolder
from tests.helpers import build_models, config, image_data, make_trainer, point_data


def _loss_on(real, fake):
    return lambda D: d_nonsaturating(D(real), D(fake))


@pytest.mark.parametrize("optimizer,kw", [
    ("adam", dict(betas=(0.5, 0.999))), ("sgd", dict(momentum=0.9)), ("rmsprop", {})])
def test_an_unrolled_step_is_the_optimizers_step(optimizer, kw):
    """From the optimizer's current state (moments, step count), one functional step gives the
    parameters that opt.step() gives on the same loss."""
    torch.manual_seed(0)
    D = MLPDiscriminator((2,), (16, 16))
    make = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}[optimizer]
    opt = make(D.parameters(), lr=1e-2, **kw)
    real, fake = torch.randn(32, 2), torch.randn(32, 2) * 2
    for _ in range(2):  # the optimizer has state to start from
        opt.zero_grad()
        _loss_on(real, fake)(D).backward()
        opt.step()
    cfg = config("gan", optimizer=optimizer)
    state = unrolled.unroll(D, _loss_on(real, fake), 1, opt, cfg, create_graph=False)

    D2 = copy.deepcopy(D)
    opt2 = make(D2.parameters(), lr=1e-2, **kw)
    opt2.load_state_dict(opt.state_dict())
    opt2.zero_grad()
    _loss_on(real, fake)(D2).backward()
    opt2.step()
    for name, p in D2.named_parameters():
        torch.testing.assert_close(state[name], p, rtol=1e-5, atol=1e-6)


def test_unrolling_leaves_d_its_buffers_and_its_optimizer_alone():
    torch.manual_seed(0)
    D = DCGANDiscriminator((1, 8, 8), 8)  # batch norm: running statistics are buffers
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    x, y = torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)
    opt.zero_grad()
    _loss_on(x, y)(D).backward()
    opt.step()
    before = {k: v.clone() for k, v in D.state_dict().items()}
    opt_before = copy.deepcopy(opt.state_dict())
    state = unrolled.unroll(D, _loss_on(x, y), 3, opt, config("dcgan"))
    assert any(not torch.equal(state[k], before[k]) for k, _ in D.named_parameters())
    for k, v in D.state_dict().items():
        assert torch.equal(v, before[k]), k
    after = opt.state_dict()["state"]
    for i, s in opt_before["state"].items():
        for k, v in s.items():
            assert torch.equal(after[i][k], v)


def _g_step(model="gan", **kw):
    """One G step's loss on a fixed batch, as the G phase computes it (through the unrolled D when
    kw's config unrolls): (G, the loss, the D it judged by, the real batch, the fake batch, the
    algorithm)."""
    data = point_data()
    cfg = config(model, precision="fp32", **kw)
    torch.manual_seed(0)
    algo = MODELS.get(model).make(cfg, data.info())
    G, D = algo.networks["G"], algo.networks["D"]
    algo._real, algo._labels = data.x[:16], None
    fake = G(torch.randn(16, cfg.z_dim, generator=torch.Generator().manual_seed(1)))
    ctx = type("Ctx", (), {"gen": torch.Generator().manual_seed(2), "optimizers": {}})()
    D.requires_grad_(False)  # as in the G phase
    if not cfg.unroll:
        return G, algo.g_loss(D, fake, None)[0], D, algo._real, fake, algo
    loss, _ = algo.unrolled_g_loss(fake, ctx)
    return G, loss, algo.unrolled_d(fake, ctx), algo._real, fake, algo


def _g_grad(model="gan", **kw):
    G, loss, *_ = _g_step(model, **kw)
    return torch.autograd.grad(loss, list(G.parameters()))


def test_second_order_term_reaches_g():
    """With unroll_grad, G's gradient includes how the unrolled updates depend on G's samples; the
    first-order variant has no such term, and unroll=0 is the plain GAN."""
    plain, zero = _g_grad(), _g_grad(unroll=0)
    first, second = _g_grad(unroll=3, unroll_grad=False), _g_grad(unroll=3)
    assert all(torch.equal(a, b) for a, b in zip(plain, zero))
    assert any(not torch.allclose(a, b) for a, b in zip(plain, first))
    assert any(not torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(first, second))
    assert all(torch.isfinite(g).all() for g in second)


def test_with_the_minimax_loss_g_minimises_the_value_function_at_the_unrolled_d():
    """unroll_real: G's loss is f(G, D_K) = E log D_K(x) + E log(1 - D_K(G(z))), the paper's
    surrogate, i.e. minus D_K's own loss; without it, the fake term alone."""
    _, loss, DK, real, fake, algo = _g_step(loss="minimax", unroll=3)
    torch.testing.assert_close(loss, -d_nonsaturating(DK(real), DK(fake)))
    _, fake_only, DK, real, fake, _ = _g_step(loss="minimax", unroll=3, unroll_real=False)
    torch.testing.assert_close(fake_only, -torch.nn.functional.softplus(DK(fake)).mean())
    assert "D's real-batch term included" in algo.describe()


@pytest.mark.parametrize("model", ["gan", "wgan-gp"])
def test_the_real_term_reaches_g_only_through_the_unrolled_updates(model):
    """The real batch does not hang on G: its term changes G's gradient with gradients through the
    unrolled steps, and not at all in the first-order variant."""
    with_real, without = _g_grad(model, unroll=3), _g_grad(model, unroll=3, unroll_real=False)
    assert any(not torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(with_real, without))
    first = _g_grad(model, unroll=3, unroll_grad=False)
    first_without = _g_grad(model, unroll=3, unroll_grad=False, unroll_real=False)
    assert all(torch.allclose(a, b) for a, b in zip(first, first_without))


def test_wgan_clips_the_unrolled_copy_too():
    cfg = config("wgan", unroll=2)
    data = image_data(n=16, size=8)
    algo = MODELS.get("wgan").make(cfg, data.info())
    D = algo.networks["D"]
    big = {k: torch.full_like(v, 1.0) for k, v in D.named_parameters()}
    assert all(v.abs().max() <= cfg.clip for v in algo.objective.project(big).values())


@pytest.mark.parametrize("model", ["acgan", "infogan"])
def test_models_whose_d_gives_more_than_a_score_refuse_unroll(model):
    with pytest.raises(UserError, match="unroll"):
        build_models(config(model, unroll=2), image_data(n=8).info())


def test_models_without_d_refuse_unroll():
    with pytest.raises(UserError, match="unroll is for discriminators"):
        MODELS.get("vae").make(config("vae", unroll=2), image_data(n=8).info())


def _state(trainer):
    t = trainer.state_tensors()
    for name, opt in trainer.opts.items():
        for i, s in opt.state_dict()["state"].items():
            for k, v in s.items():
                t[f"opt_{name}.{i}.{k}"] = v
    return t


@pytest.mark.parametrize("model,precision,kw", [
    ("unrolled", "fp32", {}), ("dcgan", "bf16", dict(unroll=2)), ("wgan-gp", "fp32", dict(unroll=1, pack=2))])
def test_unrolled_training_resumes_bit_exactly(tmp_path, model, precision, kw):
    data = point_data() if model == "unrolled" else image_data(n=48, size=8)
    n = 3

    def trainer(name, steps):
        cfg = config(model, out=str(tmp_path / name), precision=precision, max_steps=steps, **kw)
        return make_trainer(cfg, data, RunFolder.create(tmp_path / name, cfg, data.info()))
    whole = trainer("whole", 2 * n)
    whole.train()
    first = trainer("split", n)
    first.train()
    cfg, _ = RunFolder.open(tmp_path / "split").read_config()
    cfg.max_steps = 2 * n
    second = make_trainer(cfg, data, RunFolder.open(tmp_path / "split"))
    second.restore(second.run.checkpoint())
    second.train()
    a, b = _state(whole), _state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
