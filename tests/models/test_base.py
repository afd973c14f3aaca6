"""The minibatch standard deviation layer (models/base.py) and the discriminators that use it;
gankit's dropout."""

import pytest
import torch

from gankit.models.base import MinibatchStd
from tests.helpers import build_models, config, image_data, point_data


def test_minibatch_std_is_the_groups_mean_feature_std():
    x = torch.randn(8, 3, 2, 2)
    y = MinibatchStd(group=4)(x)
    assert y.shape == (8, 4, 2, 2) and torch.equal(y[:, :3], x)
    for i in range(8):  # sample i is in group i mod 2 with samples i, i + 2, i + 4, i + 6
        members = x[i % 2::2]
        expected = members.std(dim=0, unbiased=False).mean()
        assert torch.allclose(y[i, 3], expected.expand(2, 2), atol=1e-5)


def test_minibatch_std_on_features_and_odd_batches():
    x = torch.randn(6, 5)
    y = MinibatchStd(group=4)(x)  # 4 does not divide 6: groups of 3
    assert y.shape == (6, 6)
    assert torch.allclose(y[0, 5], x[0::2].std(dim=0, unbiased=False).mean(), atol=1e-5)
    assert MinibatchStd(group=4)(torch.randn(1, 5))[0, 5] < 1e-3  # a lone sample: no spread
    two = MinibatchStd(group=2, channels=2)(torch.randn(4, 6))
    assert two.shape == (4, 8)


@pytest.mark.parametrize("model,data", [("dcgan", image_data(n=8, size=28, classes=0)),
                                        ("gan", image_data(n=8, size=28, classes=0)),
                                        ("simplegan", point_data()), ("wgan-gp", point_data())])
def test_discriminators_with_mbstd_see_their_group(model, data):
    G, D = build_models(config(model, mbstd=1, mbstd_group=2), data.info())
    D.eval()  # no dropout
    x = torch.randn(8, *data.shape)
    out = D(x)
    assert out.shape == (8,)
    y = x.clone()
    y[0] += 1  # sample 0's group is {0, 4}: only their logits move
    moved = (D(y) != out).nonzero().flatten().tolist()
    assert moved == [0, 4]


def test_mbstd_adds_one_input_to_the_last_layer():
    data = image_data(n=8, size=28, classes=0)
    _, plain = build_models(config("dcgan"), data.info())
    _, std = build_models(config("dcgan", mbstd=1), data.info())
    assert std.fc.in_features == plain.fc.in_features + 7 * 7  # one 7x7 map more
    assert [k for k in std.state_dict() if k not in plain.state_dict()] == []  # the same names


def test_minibatch_discrimination_counts_close_neighbours():
    from gankit.models.base import MinibatchDiscrimination

    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=3, dim=2)
    same = torch.ones(4, 6)
    y = layer(same)
    assert y.shape == (4, 9) and torch.equal(y[:, :6], same)
    assert torch.allclose(y[:, 6:], torch.full((4, 3), 3.0))  # three identical neighbours each
    apart = torch.eye(4, 6) * 1000
    assert layer(apart)[:, 6:].max() < 1e-3  # no close neighbours


@pytest.mark.parametrize("model,data", [("dcgan", image_data(n=8, size=28, classes=0)),
                                        ("gan", point_data())])
def test_discriminators_with_minibatch_discrimination(model, data):
    G, D = build_models(config(model, mbdisc=8), data.info())
    D.eval()
    x = torch.randn(8, *data.shape)
    out = D(x)
    y = x.clone()
    y[0] += 1  # every sample's neighbours change: every logit may move, sample 0's does
    assert out.shape == (8,) and D(y)[0] != out[0]
    assert any(isinstance(m, type(D)) or "MinibatchDiscrimination" in type(m).__name__ for m in D.modules())


def test_dropout_keeps_each_element_with_probability_1_minus_p_and_rescales():
    from gankit.models.base import Dropout

    torch.manual_seed(0)
    d = Dropout(0.3)
    y = d(torch.ones(400, 1000))
    kept = y != 0
    assert torch.allclose(y[kept], torch.tensor(1 / 0.7))  # the survivors scaled as torch's dropout
    assert abs(kept.float().mean().item() - 0.7) < 0.003  # 400,000 elements: sd 0.0007
    # each of the four 15-bit quarters of a 64-bit draw keeps at the same rate (no stuck bit)
    by_quarter = kept.reshape(-1, 4).float().mean(0)
    assert (by_quarter - 0.7).abs().max() < 0.006
    x = torch.randn(7, 5, requires_grad=True)  # an odd size: not a multiple of 4 elements
    out = d(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() / 0.7)
    torch.manual_seed(1)
    a = d(torch.ones(64, 64))
    torch.manual_seed(1)
    assert torch.equal(a, d(torch.ones(64, 64)))  # torch's default generator: seeded runs repeat
    assert d(torch.ones(64, dtype=torch.bfloat16)).dtype == torch.bfloat16
    assert torch.equal(d.eval()(x), x) and torch.equal(Dropout(0.0)(x), x)
    with pytest.raises(ValueError, match="dropout p"):
        Dropout(1.0)
