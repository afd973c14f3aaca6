"""Every model x size builds, maps shapes right, and takes a training step that changes it."""

import pytest
import torch

from gankit.errors import UserError
from gankit.algorithms import MODELS
from gankit.models.dcgan import upsampling_plan
from gankit.runs import RunFolder
from tests.helpers import build_models, config, image_data, make_trainer, point_data

IMAGE_CASES = [(1, 8), (1, 28), (1, 32), (3, 32), (1, 64), (3, 64)]
# the models with a generator G and a discriminator D (tests/algorithms/test_vae.py: the others)
GANS = [name for name, spec in MODELS if spec.algorithm.has_discriminator]


@pytest.mark.parametrize("model", GANS)
@pytest.mark.parametrize("channels,size", IMAGE_CASES)
def test_image_models_build_and_map_shapes(model, channels, size):
    data = image_data(n=8, channels=channels, size=size)
    cfg = config(model)
    algo = MODELS.get(model).make(cfg, data.info())
    G, D = algo.networks["G"], algo.networks["D"]
    labels = data.labels[:4] if MODELS.get(model).conditional else None
    x = G(algo.latents(4, torch.Generator().manual_seed(0)), labels)  # infogan: noise and codes
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    out = D(x, labels)
    logits = out[0] if isinstance(out, tuple) else out  # acgan: (source logits, class logits)
    assert logits.shape == (4,)


@pytest.mark.parametrize("model", MODELS.names())
def test_point_models(model):
    data = point_data()
    spec = MODELS.get(model)
    cfg = config(model)
    if "points" not in spec.kinds:
        with pytest.raises(UserError, match="works on image"):
            spec.make(cfg, data.info())
        return
    G, D = build_models(cfg, data.info())
    labels = data.labels[:5] if spec.conditional else None
    assert G(torch.randn(5, cfg.z_dim), labels).shape == (5, 2)
    assert D(torch.randn(5, 2), labels).shape == (5,)


@pytest.mark.parametrize("model", GANS)
@pytest.mark.parametrize("size", [8, 28])
def test_one_training_step_updates_both_networks(model, size, tmp_path):
    data = image_data(n=32, size=size)
    cfg = config(model, out=str(tmp_path / "run"), precision="fp32")
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "run", cfg, data.info()))
    g0 = [p.detach().clone() for p in trainer.nets["G"].parameters()]
    d0 = [p.detach().clone() for p in trainer.nets["D"].parameters()]
    stats = {}
    trainer.iteration(stats)
    assert trainer.step == 1
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.nets["G"].parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.nets["D"].parameters()))
    assert all(torch.isfinite(v).all() for v in stats.values() if torch.is_tensor(v))
    assert "d_loss" in stats and "g_loss" in stats


@pytest.mark.parametrize("model", MODELS.names())
def test_one_iteration_changes_every_network_an_optimizer_holds(model, tmp_path):
    data = image_data(n=32, size=8)
    cfg = config(model, out=str(tmp_path / "run"), precision="fp32")
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "run", cfg, data.info()))
    trained = [n for spec in trainer.algo.optimizers().values() for n in spec.networks]
    before = {n: [p.detach().clone() for p in trainer.nets[n].parameters()] for n in trained}
    stats = {}
    trainer.iteration(stats)
    for n in trained:
        assert any(not torch.equal(a, b) for a, b in zip(before[n], trainer.nets[n].parameters())), n
    assert stats and all(torch.isfinite(v).all() for v in stats.values() if torch.is_tensor(v))


def test_wgan_clips_critic_weights(tmp_path):
    data = image_data(n=64)
    cfg = config("wgan", out=str(tmp_path / "r"), clip=0.01, d_steps=2)
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    trainer.iteration({})
    assert max(p.abs().max().item() for p in trainer.nets["D"].parameters()) <= 0.01


def test_conditional_model_refuses_unlabelled_data():
    data = image_data(n=8, classes=0)
    with pytest.raises(UserError, match="no labels"):
        build_models(config("cdcgan"), data.info())


def test_unrolled_builds_metz_networks_on_points():
    """`unrolled` on points: Metz's Appendix A networks (ReLU D reading x / 4, every layer
    orthogonal with gain 0.8 and zero biases); `gan`'s MLP D keeps LeakyReLU on raw input."""
    G, D = build_models(config("unrolled"), point_data().info())
    _, gan_d = build_models(config("gan"), point_data().info())
    assert D.in_scale == 0.25 and isinstance(D.net[1], torch.nn.ReLU)
    assert gan_d.in_scale == 1.0 and isinstance(gan_d.net[1], torch.nn.LeakyReLU)
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                w = m.weight if m.out_features <= m.in_features else m.weight.T
                assert torch.allclose(w @ w.T, 0.64 * torch.eye(len(w)), atol=1e-5)
                assert not m.bias.any()
    x = torch.randn(6, 2)
    assert torch.allclose(D(x), D.net(x / 4).squeeze(1))


@pytest.mark.parametrize("size,plan", [(8, (2, 2)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4))])
def test_upsampling_plan(size, plan):
    assert upsampling_plan(size) == plan


def test_odd_image_size_is_a_user_error():
    with pytest.raises(UserError, match="image_size"):
        upsampling_plan(27)


@pytest.mark.parametrize("d_norm", ["batch", "layer", "none", "spectral"])
def test_discriminator_normalisations_train(d_norm, tmp_path):
    data = image_data(n=32, size=28)
    cfg = config("cdcgan", out=str(tmp_path / "r"), d_norm=d_norm, precision="fp32")
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    stats = {}
    trainer.iteration(stats)
    trainer.iteration(stats)
    assert torch.isfinite(stats["d_loss"]) and torch.isfinite(stats["g_loss"])
    if d_norm == "spectral":
        w = trainer.nets["D"].net[0].weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2) <= 1.05  # normalised to ~1


def test_packed_discriminator_judges_groups(tmp_path):
    data = image_data(n=32, size=28, classes=0)
    cfg = config("dcgan", pack=4, out=str(tmp_path / "r"), precision="fp32")
    G, D = build_models(cfg, data.info())
    x = torch.randn(8, 1, 28, 28)
    assert D(x).shape == (2,)
    # D sees samples 0-3 as one input: changing sample 5 leaves the first pack's logit alone
    D.eval()
    y = x.clone()
    y[5] += 1
    assert torch.equal(D(x)[0], D(y)[0]) and not torch.equal(D(x)[1], D(y)[1])
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    stats = {}
    trainer.iteration(stats)
    assert torch.isfinite(stats["d_loss"])


def test_pack_needs_unconditional_model_and_divisible_batch():
    with pytest.raises(UserError, match="unconditional"):
        build_models(config("cdcgan", pack=2), image_data(n=8).info())
    with pytest.raises(UserError, match="multiple of pack"):
        config("dcgan", pack=3, batch_size=16)


@pytest.mark.parametrize("model", ["gan", "simplegan", "wgan-gp"])
def test_packed_mlp_discriminator_on_points(model):
    data = point_data()
    G, D = build_models(config(model, pack=2), data.info())
    assert D(torch.randn(8, 2)).shape == (4,)


@pytest.mark.parametrize("size", [8, 28, 32])
def test_depth_adds_stride_1_blocks_to_both_networks(size):
    data = image_data(n=8, size=size)
    G0, D0 = build_models(config("dcgan", depth=0), data.info())
    G1, D1 = build_models(config("dcgan", depth=2), data.info())
    convs = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    stages = sum(isinstance(x, torch.nn.ConvTranspose2d) for x in G0.modules()) - 1
    assert convs(G1) == convs(G0) + 2 * stages  # after each upsampling stage but the last
    assert convs(D1) == convs(D0) + 2  # at the first stage's resolution
    x = G1(torch.randn(4, 16))
    assert x.shape == (4, 1, size, size) and D1(x).shape == (4,)


# infogan refuses pack (Q reads each image's codes), ssgan too (its D classifies each image)
UNCONDITIONAL_GANS = [name for name in GANS if not MODELS.get(name).conditional and name not in ("infogan", "ssgan")]


@pytest.mark.parametrize("model", UNCONDITIONAL_GANS)
@pytest.mark.parametrize("clusters", [0, 4])
def test_pack_trains_every_unconditional_model(model, clusters, tmp_path):
    """PacGAN on every unconditional model, also self-conditioned (D's projection of a pack: the mean
    of its members' cluster embeddings), the WGAN-GP penalty taken per pack."""
    if clusters and model == "simplegan":
        pytest.skip("simplegan takes no labels (it refuses clusters)")
    data = image_data(n=32, size=8, classes=0)
    cfg = config(model, pack=4, clusters=clusters, out=str(tmp_path / "r"), precision="fp32")
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    assert trainer.nets["D"](torch.randn(8, 1, 8, 8)).shape == (2,)
    stats = {}
    trainer.iteration(stats)
    assert all(torch.isfinite(v).all() for v in stats.values() if torch.is_tensor(v))
    assert "pack" not in trainer.algo.describe() or "packs of 4" in trainer.algo.describe()


def test_infogan_refuses_pack_in_one_line():
    with pytest.raises(UserError, match="Q reads each image's codes"):
        build_models(config("infogan", pack=2), image_data(n=8).info())


def test_d_width_shrinks_the_conv_discriminator_only():
    data = image_data(n=8, size=28, classes=0)
    G, D = build_models(config("dcgan", width=16), data.info())
    G4, D4 = build_models(config("dcgan", width=16, d_width=4), data.info())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(G4) == count(G) and count(D4) < count(D) / 4
    assert D4(G4(torch.randn(4, 16))).shape == (4,)
