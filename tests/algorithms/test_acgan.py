"""AC-GAN: D's two heads, the class terms in both losses, refusals, and a class head that learns."""

import pytest
import torch

import gankit
from gankit.errors import UserError
from gankit.runs import RunFolder
from tests.helpers import build_models, config, image_data, make_trainer


def two_classes(n=64):
    """8x8 images: class 0 bright on top, class 1 bright at the bottom."""
    x = torch.zeros(n, 1, 8, 8, dtype=torch.uint8)
    labels = torch.arange(n) % 2
    x[labels == 0, :, :4] = 230
    x[labels == 1, :, 4:] = 230
    data = image_data(n=n, size=8, classes=2)
    data.x, data.labels = x, labels
    return data


def test_d_has_a_source_and_a_class_head():
    data = image_data(n=16, size=8)
    G, D = build_models(config("acgan"), data.info())
    src, cls = D(G(torch.randn(4, 16), torch.tensor([0, 1, 2, 3])))
    assert src.shape == (4,) and cls.shape == (4, 10)


def test_refuses_unlabelled_data_and_self_conditioning():
    unlabelled = image_data(n=16, size=8, classes=0)
    with pytest.raises(UserError, match="needs class labels"):
        build_models(config("acgan"), unlabelled.info())
    with pytest.raises(UserError):
        build_models(config("acgan", clusters=2), image_data(n=16, size=8).info())


def test_the_class_head_learns_and_eval_scores_it(tmp_path):
    data = two_classes()
    cfg = config("acgan", out=str(tmp_path / "r"), precision="fp32", max_steps=40, log_every=10, lr_d=2e-3)
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    trainer.train()
    trainer.run.unlock()
    row = trainer.run.read_metrics()[-1]
    for key in ("d_class_loss", "g_class_loss", "cls_acc_real", "cls_acc_fake", "d_acc_real"):
        assert key in row
    assert row["cls_acc_real"] >= 0.95
    m = gankit.load(tmp_path / "r", "last")
    real = data.x.float() / 127.5 - 1
    fake = m.sample(32, label="all", as_tensor=True)
    d = m.algo.d_accuracy(m.nets, real, fake, data.labels, torch.arange(32) % 2)
    assert d["d_class_acc"] >= 0.95 and {"d_acc_real", "d_acc_fake", "d_threshold"} <= d.keys()


@pytest.mark.parametrize("model,loss", [("lsgan", "least-squares"), ("hinge", "hinge")])
def test_lsgan_and_hinge_are_named_models_with_their_losses(model, loss, tmp_path):
    data = image_data(n=32, size=8, classes=0)
    cfg = config(model, out=str(tmp_path / "r"), precision="fp32")
    assert cfg.loss == loss
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    d0 = [p.detach().clone() for p in trainer.nets["D"].parameters()]
    trainer.iteration({})
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.nets["D"].parameters()))
    if model == "hinge":
        assert any("parametrizations" in k for k in trainer.nets["D"].state_dict())  # spectral norm
