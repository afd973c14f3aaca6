"""Self-conditioning: the cluster drawn from z follows the data's cluster shares with a fresh
standard-normal z_0, D judges an image against its nearest centre, and a run trains on clusters."""

import pytest
import torch

from gankit.errors import UserError
import gankit
from gankit.algorithms import MODELS
from gankit.latent import interpolation_latents
from gankit.models.selfcond import SelfConditionedD, SelfConditionedG
from gankit.runs import RunFolder
from tests.helpers import build_models, config, image_data, make_trainer


class Echo(torch.nn.Module):
    """A stand-in network that returns what it was given."""

    def forward(self, z, labels):
        return z, labels


def test_split_draws_clusters_by_their_shares_and_a_fresh_normal_z0():
    G = SelfConditionedG(Echo(), 3)
    G.prior.copy_(torch.tensor([0.5, 0.3, 0.2]))
    z = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(0))
    z2, ids = G(z)
    shares = torch.bincount(ids, minlength=3).float() / len(ids)
    assert torch.allclose(shares, G.prior, atol=0.005)
    assert torch.equal(z2[:, 1:], z[:, 1:])  # only z_0 is redrawn
    for c in range(3):  # inside every cluster z_0 is again N(0, 1), so it carries no cluster
        z0 = z2[ids == c, 0]
        assert abs(float(z0.mean())) < 0.02 and abs(float(z0.std()) - 1) < 0.02
    assert torch.equal(ids, G.split(z)[1]) and torch.equal(z2, G.split(z)[0])


def test_explicit_labels_pass_through_unchanged():
    G = SelfConditionedG(Echo(), 3)
    z, labels = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    out_z, out_labels = G(z, labels)
    assert out_z is z and out_labels is labels


def test_discriminator_judges_each_image_against_its_nearest_centre():
    class Labels(torch.nn.Module):
        def forward(self, x, labels):
            return labels

    D = SelfConditionedD(Labels(), 2, 4)
    D.centers.copy_(torch.tensor([[-1.0, -1, -1, -1], [1.0, 1, 1, 1]]))
    x = torch.tensor([[-0.9, -0.8, -1, -1], [0.7, 0.9, 1, 0.2], [0.5, 0.6, 0.4, 0.5]]).view(3, 1, 2, 2)
    assert D(x).tolist() == [0, 1, 1]
    assert D(x, torch.tensor([1, 1, 0])).tolist() == [1, 1, 0]


def test_models_wrap_with_clusters_and_refuse_what_cannot_self_condition():
    data = image_data(n=32)
    G, D = build_models(config("dcgan", clusters=4), data.info())
    assert isinstance(G, SelfConditionedG) and isinstance(D, SelfConditionedD)
    assert D.centers.shape == (4, 28 * 28)
    assert G(torch.randn(3, 16)).shape == (3, 1, 28, 28) and D(torch.zeros(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(UserError, match="already class-conditional"):
        build_models(config("cdcgan", clusters=4), data.info())
    with pytest.raises(UserError, match="simplegan takes no labels"):
        build_models(config("simplegan", clusters=4), data.info())
    # packed (PacGAN): one logit per pack, each image's cluster found from D's saved centres
    _, packed = build_models(config("dcgan", clusters=4, pack=2), data.info())
    assert isinstance(packed, SelfConditionedD) and packed(torch.zeros(4, 1, 28, 28)).shape == (2,)


def two_kinds(n=64):
    """Images of two kinds (bright top half, bright bottom half) whose labels say nothing of it."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 30, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    x[: n // 2, :, :4] += 200
    x[n // 2:, :, 4:] += 200
    data = image_data(n=n, size=8)
    data.x = x
    return data


def test_a_run_trains_on_clusters_and_keeps_them_in_its_checkpoint(tmp_path):
    data = two_kinds()
    cfg = config("dcgan", out=str(tmp_path / "run"), clusters=2, precision="fp32", max_steps=3)
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "run", cfg, data.info()))
    ids = trainer.batches.fields["label"]
    assert ids[:32].unique().numel() == 1 and ids[32:].unique().numel() == 1 and ids[0] != ids[-1]
    assert torch.allclose(trainer.nets["G"].prior, torch.tensor([0.5, 0.5]))
    top = trainer.nets["D"].centers[ids[0]].view(8, 8)
    assert top[:4].mean() > top[4:].mean()  # the centre of the first kind is bright on top
    labels = trainer.batches.take(trainer.sampler.next())["label"]
    assert labels is not None and set(labels.tolist()) <= {0, 1}
    trainer.train()
    G = gankit.load(tmp_path / "run").nets["G"]
    assert isinstance(G, SelfConditionedG)
    assert torch.equal(G.prior, trainer.nets["G"].prior)
    assert "self-conditioning on 2 k-means clusters" in (tmp_path / "run" / "log.txt").read_text()


def test_interpolation_walks_from_one_endpoint_to_the_other():
    data = image_data(n=32, size=8)
    algo = MODELS.get("dcgan").make(config("dcgan", clusters=3), data.info())
    G = algo.networks["G"]
    G.prior.copy_(torch.tensor([0.2, 0.3, 0.5]))
    G.eval()
    rows, steps = 3, 5
    with torch.no_grad():
        x = algo.interpolate(algo.networks, rows, steps, True, torch.Generator().manual_seed(7))
    assert x.shape == (rows * steps, 1, 8, 8)
    z = interpolation_latents(rows, steps, 16, torch.Generator().manual_seed(7), True)
    with torch.no_grad():
        assert torch.allclose(x[::steps], G(z[::steps]), atol=1e-5)  # each row starts at G(a)
        assert torch.allclose(x[steps - 1::steps], G(z[steps - 1::steps]), atol=1e-5)  # ends at G(b)


@pytest.mark.parametrize("model", ["gan", "dcgan", "wgan", "wgan-gp"])
def test_every_unconditional_model_that_takes_labels_trains_on_clusters(model, tmp_path):
    data = two_kinds(n=32)
    cfg = config(model, out=str(tmp_path / "r"), clusters=2, precision="fp32")
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    g0 = [p.detach().clone() for p in trainer.nets["G"].parameters()]
    trainer.iteration({})
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.nets["G"].parameters()))
    with torch.no_grad():
        assert trainer.nets["D"](trainer.nets["G"](torch.randn(4, cfg.z_dim))).shape == (4,)


def test_resume_takes_the_clusters_from_the_checkpoint(tmp_path):
    data = two_kinds()
    cfg = config("dcgan", out=str(tmp_path / "run"), clusters=2, precision="fp32", max_steps=2)
    first = make_trainer(cfg, data, RunFolder.create(tmp_path / "run", cfg, data.info()))
    first.train()
    again = make_trainer(cfg, data, RunFolder.open(tmp_path / "run"))
    again.nets["D"].centers.copy_(again.nets["D"].centers.flip(0))  # as if this machine's k-means numbered them otherwise
    again.batches.fields["label"] = 1 - again.batches.fields["label"]
    again.restore(again.run.checkpoint())
    assert torch.equal(again.batches.fields["label"], first.batches.fields["label"])
    assert torch.equal(again.nets["D"].centers, first.nets["D"].centers)
