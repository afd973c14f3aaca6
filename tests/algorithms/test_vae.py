"""vae and autoencoder: shapes, the loss terms against hand-computed numbers, the IWAE estimate
against a log-likelihood computed by quadrature, learning, exact resume, the autoencoder's fitted
prior, the Python API and the command line on scikit-learn's digits."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.algorithms import MODELS
from gankit.algorithms import vae
from gankit.cli import main
from gankit.config import build_config
from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError
from gankit.runs import RunFolder
from tests.helpers import config, image_data, make_trainer, train_to
from tests.test_cli import error_of

FAST = ["--dataset", "digits", "--set", "width=8", "--set", "z_dim=4", "--set", "batch_size=64",
        "--set", "log_every=4", "--set", "device=cpu", "--set", "precision=fp32", "--set", "grid_size=16"]


@pytest.mark.parametrize("model,outputs", [("vae", 2), ("autoencoder", 1)])
@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32)])
def test_networks_map_shapes(model, outputs, channels, size):
    algo = MODELS.get(model).make(config(model), image_data(n=4, channels=channels, size=size).info())
    E, G = algo.networks["E"], algo.networks["G"]
    x = torch.rand(4, channels, size, size) * 2 - 1
    assert E(x).shape == (4, outputs * 16)
    assert G(torch.randn(4, 16)).shape == (4, channels, size, size)  # logits
    assert algo.encode(algo.networks, x).shape == (4, 16)
    y = algo.generate(algo.networks, torch.randn(4, 16))
    assert y.shape == (4, channels, size, size) and y.min() >= -1 and y.max() <= 1
    assert algo.sampler == "G" and algo.encodes and not algo.has_discriminator and algo.ema == ()
    assert algo.d_accuracy(algo.networks, x, y, None, None) is None


def test_loss_terms_match_hand_computed_numbers():
    logits = torch.tensor([[2.0, -1.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0, 0.5]], dtype=torch.float64)
    # log sigmoid(2) + log(1 - sigmoid(-1)) + (0.5 log 0.5 + 0.5 log 0.5)
    expected = -math.log1p(math.exp(-2.0)) - math.log1p(math.exp(-1.0)) + math.log(0.5)
    assert_close(vae.bernoulli_log_prob(logits, x), torch.tensor([expected], dtype=torch.float64))
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # 0.5 (mean^2 + var - 1 - log var) per dimension: 0.125 and 0.5 (1 + 4 - 1 - log 4)
    assert_close(vae.gaussian_kl(mean, logvar), torch.tensor([0.125 + 0.5 * (4 - math.log(4.0))]))
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
    assert_close(vae.gaussian_kl(mean, logvar), torch.distributions.kl_divergence(q, p).sum(1))


class LinearDecoder(nn.Module):
    """One latent dimension: logits = a z + b per pixel of an 8x8 image."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.a, self.b = torch.randn(64, generator=g) * 0.4, torch.randn(64, generator=g)

    def forward(self, z, labels=None):
        return (z * self.a + self.b).view(-1, 1, 8, 8)


def test_iwae_converges_to_the_log_likelihood_and_bounds_the_elbo():
    G = LinearDecoder()
    x = (torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    # log p(x) = log integral p(x|z) N(z; 0, 1) dz, by quadrature on a fine grid
    z = torch.linspace(-12, 12, 48001, dtype=torch.float64)[:, None]
    log_joint = vae.bernoulli_log_prob(G(z).flatten(1)[None], x.flatten(1)[:, None]) \
        - 0.5 * (z.squeeze(1).pow(2) + math.log(2 * math.pi))
    exact = torch.logsumexp(log_joint, 1) + math.log(24 / 48000)
    # ELBO = E_q[log p(x, z) - log q(z)] for q = N(0.3, 0.8), by the same quadrature
    log_q = torch.distributions.Normal(0.3, math.sqrt(0.8)).log_prob(z.squeeze(1))
    exact_elbo = (log_q.exp() * (log_joint - log_q)).sum(1) * (24 / 48000)

    def E(images):  # the proposal q(z|x) = N(0.3, 0.8), not the posterior
        return torch.tensor([[0.3, math.log(0.8)]]).expand(len(images), 2)

    iwae, elbo = vae.importance_bounds(E, G, x, 20000, torch.Generator().manual_seed(0))
    assert_close(iwae, exact, atol=0.02, rtol=0)
    assert_close(elbo, exact_elbo, atol=0.05, rtol=0)
    assert (exact_elbo < exact - 0.2).all()  # the ELBO is a looser bound here
    one, elbo1 = vae.importance_bounds(E, G, x, 1, torch.Generator().manual_seed(0))
    assert_close(one, elbo1)  # one sample: the two estimates coincide


def _trained(tmp_path, name, model, steps, resume=False, **kw):
    data = image_data(n=48, size=8)
    cfg = config(model, out=str(tmp_path / name), max_steps=steps, precision="fp32", log_every=2, **kw)
    return train_to(cfg, data, resume)


@pytest.mark.parametrize("model", ["vae", "autoencoder"])
def test_resume_is_exact(model, tmp_path):
    whole = _trained(tmp_path, "whole", model, 6)
    _trained(tmp_path, "split", model, 3)
    again = _trained(tmp_path, "split", model, 6, resume=True)
    a, b = whole.state_tensors(), again.state_tensors()
    assert a.keys() == b.keys() and ("extra.code_mean" in a) == (model == "autoencoder")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    def timeless(rows):
        return [{k: v for k, v in r.items() if k not in ("img_per_s", "s_per_epoch", "time_s")} for r in rows]
    assert timeless(whole.run.read_metrics()) == timeless(again.run.read_metrics())
    assert {"reconstructions.png", "interpolations.png"} <= {p.name for p in (tmp_path / "whole").iterdir()}


def test_the_vae_learns_digits_beyond_independent_pixels(tmp_path):
    data = load_dataset("digits", DataSpec(split="train"))
    p = (data.x.double() / 255).mean(0).clamp(1e-6, 1 - 1e-6)
    independent = float(-(p * p.log() + (1 - p) * (1 - p).log()).sum())  # 27.2 nats: the best z-blind model
    cfg = config("vae", out=str(tmp_path / "r"), precision="fp32", max_steps=300, log_every=50,
                 batch_size=64, width=16, z_dim=8, lr_g=3e-3)
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    trainer.train()
    trainer.run.unlock()
    first, last = trainer.run.read_metrics()[0], trainer.run.read_metrics()[-1]
    assert {"loss", "recon", "kl"} <= first.keys()
    assert first["loss"] < 64 * math.log(2)  # where zero logits start
    assert last["loss"] < independent - 1 and last["kl"] > 1  # measured: 24.5 and 3.4
    assert_close(last["loss"], last["recon"] + last["kl"], atol=1e-3, rtol=0)


def test_the_autoencoder_fits_a_gaussian_to_its_codes():
    algo = MODELS.get("autoencoder").make(config("autoencoder", z_dim=3), image_data(n=4, size=8).info())
    mean, root = algo.prior()
    assert torch.equal(mean, torch.zeros(3)) and torch.equal(root, torch.eye(3))  # before any batch
    codes = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 2.0, 0.5]) + 4
    for _ in range(5):
        algo._observe(codes)
    mean, root = algo.prior()
    centred = codes.double() - codes.double().mean(0)
    assert_close(mean, codes.double().mean(0))
    assert_close(root @ root.T, centred.T @ centred / 50)
    z = torch.randn(7, 3)
    with torch.no_grad():
        expected = algo.decode(algo.networks, (mean + z.double() @ root.T).float())
        assert_close(algo.generate(algo.networks, z), expected)
    restored = MODELS.get("autoencoder").make(config("autoencoder", z_dim=3), image_data(n=4, size=8).info())
    restored.load_extra_state(algo.extra_state())
    assert_close(restored.prior()[1], root)
    with pytest.raises(UserError, match="code statistics"):
        restored.load_extra_state({})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))  # the digits classifier (~3 s)
    root = tmp_path_factory.mktemp("vae")
    main(["train", "vae", "--out", str(root / "vae"), *FAST, "--set", "max_steps=8"])
    main(["train", "autoencoder", "--out", str(root / "ae"), *FAST, "--epochs", "1"])
    main(["train", "--resume", str(root / "ae"), "--epochs", "2"])  # 22 steps an epoch
    assert json.loads((root / "ae" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 44
    yield root
    mp.undo()


def test_encode_decode_and_walks_through_load(runs):
    digits = load_dataset("digits", DataSpec(split="test")).x[:6, 0].numpy()
    for name in ("vae", "ae"):
        m = gankit.load(runs / name)
        z = m.encode(digits)
        assert z.shape == (6, 4) and torch.equal(z, m.encode(digits))
        x = m.decode(z)
        assert x.shape == (6, 8, 8) and x.dtype == np.uint8
        walks = m.interpolate_between(digits[:3], digits[3:], steps=5)
        assert walks.shape == (3, 5, 8, 8)
        assert np.array_equal(walks[:, 0], x[:3]) and np.array_equal(walks[:, -1], x[3:])
        assert m.sample(5, seed=1).shape == (5, 8, 8)
    with pytest.raises(UserError, match="same number"):
        m.interpolate_between(digits[:3], digits[:2])
    with pytest.raises(UserError, match=r"\(N, 4\)"):
        m.decode(torch.zeros(2, 5))


def test_cli_sample_interpolate_and_eval(runs, tmp_path, capsys):
    run = runs / "vae"
    main(["sample", str(run), "--n", "10", "--out", str(tmp_path / "s.npz")])
    assert np.load(tmp_path / "s.npz")["images"].shape == (10, 8, 8)
    main(["interpolate", str(run), "--out", str(tmp_path / "i.png"), "--real", "--rows", "3", "--steps", "4"])
    main(["interpolate", str(runs / "ae"), "--out", str(tmp_path / "j.png"), "--steps", "4"])
    assert "between encoded digits test images" in capsys.readouterr().out
    main(["eval", str(run), "--n", "100", "--no-memorization"])
    text = capsys.readouterr().out
    assert "-log p(x), IWAE" in text and "reconstruction MSE" in text and "D accuracy" not in text
    s = json.loads((run / "eval.json").read_text())["scores"]
    assert 0 < s["nll_iwae"] <= s["nll_elbo"] and 0 <= s["recon_mse"] <= 1  # ELBO <= IWAE <= 0
    assert "nll_protocol" in json.loads((run / "eval.json").read_text())["protocol"]
    main(["report", str(run)])  # from its eval.json
    assert "reconstructions" in (run / "report.html").read_text()


def test_mistakes_are_one_line(runs, tmp_path, capsys):
    spec = MODELS.get("vae")
    for bad in (["beta=-1"], ["iwae_k=0"], ["binarize=maybe"]):
        with pytest.raises(UserError) as e:
            build_config("vae", spec.defaults, None, bad, {}, options_cls=spec.algorithm.Options)
        assert "\n" not in str(e.value)
    assert "iwae_n" in error_of(capsys, "train", "vae", *FAST, "--set", "iwae_n=0")
    assert "unknown config key 'beta'" in error_of(capsys, "train", "autoencoder", *FAST, "--set", "beta=2")
    assert "no EMA" in error_of(capsys, "train", "vae", *FAST, "--set", "ema=0.99")
    dcgan = tmp_path / "d"
    main(["train", "dcgan", "--out", str(dcgan), *FAST, "--set", "max_steps=1"])
    err = error_of(capsys, "interpolate", dcgan, "--out", tmp_path / "x.png", "--real")
    assert "needs a model with an encoder" in err
    with pytest.raises(UserError, match="no encoder"):
        gankit.load(dcgan).encode(np.zeros((2, 8, 8), np.uint8))
