"""Loss values against numbers worked out by hand."""

import math

import pytest
import torch
from torch.testing import assert_close

from gankit import losses


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


def sp(x):  # softplus by hand
    return math.log1p(math.exp(x))


def test_d_nonsaturating_matches_cross_entropy():
    real, fake = t(2.0, -1.0), t(0.5, -3.0)
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    expected = (sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2
    assert_close(losses.d_nonsaturating(real, fake), torch.tensor(expected, dtype=torch.float64))


def test_label_smoothing_scores_real_against_soft_target():
    real, fake = t(1.0), t(0.0)
    target = 0.9
    expected = target * sp(-1.0) + (1 - target) * sp(1.0) + sp(0.0)
    assert_close(losses.d_nonsaturating(real, fake, real_target=target),
                 torch.tensor(expected, dtype=torch.float64))


def test_generator_losses():
    fake = t(1.0, -2.0)
    assert_close(losses.g_nonsaturating(fake), torch.tensor((sp(-1.0) + sp(2.0)) / 2, dtype=torch.float64))
    # minimax: E[log(1 - sigmoid(f))] = -E[softplus(f)]
    expected = (math.log(1 - 1 / (1 + math.exp(-1.0))) + math.log(1 - 1 / (1 + math.exp(2.0)))) / 2
    assert_close(losses.g_minimax(fake), torch.tensor(expected, dtype=torch.float64))


def test_wasserstein_hinge_least_squares():
    real, fake = t(3.0, 1.0), t(-1.0, 0.5)
    assert_close(losses.d_wasserstein(real, fake), torch.tensor(-0.25 - 2.0, dtype=torch.float64))
    assert_close(losses.g_wasserstein(fake), torch.tensor(0.25, dtype=torch.float64))
    # hinge: relu(1-3)=0, relu(1-1)=0 -> 0; relu(1-1)=0, relu(1+0.5)=1.5 -> 0.75
    assert_close(losses.d_hinge(real, fake), torch.tensor(0.75, dtype=torch.float64))
    assert_close(losses.g_hinge(fake), torch.tensor(0.25, dtype=torch.float64))
    # LS: 0.5*(((2)^2 + 0^2)/2 + ((-1)^2 + 0.5^2)/2) = 0.5*(2 + 0.625)
    assert_close(losses.d_least_squares(real, fake), torch.tensor(1.3125, dtype=torch.float64))
    assert_close(losses.g_least_squares(fake), torch.tensor(0.5 * (4 + 0.25) / 2, dtype=torch.float64))


def test_losses_are_stable_for_huge_logits():
    big = torch.tensor([1e4, -1e4])
    for value in (losses.d_nonsaturating(big, -big), losses.g_nonsaturating(big), losses.g_minimax(-big)):
        assert torch.isfinite(value)


def test_gradient_penalty_of_a_linear_critic():
    # C(x) = w.x has gradient w everywhere: penalty = (||w|| - 1)^2 = (5 - 1)^2 = 16
    w = torch.tensor([3.0, 4.0])

    def critic(x, labels):
        return x @ w

    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = losses.gradient_penalty(critic, real, fake, None, torch.rand(6))
    assert_close(gp, torch.tensor(16.0))


def test_gradient_penalty_on_packs_is_the_penalty_of_the_packed_critic():
    """pack=2: one eps per pack, the norm over the pack's gradient: the plain penalty of a critic
    that takes each pack as one input."""
    torch.manual_seed(0)
    w = torch.randn(2 * 3)
    packed = lambda x, labels=None: x.reshape(len(x) // 2, -1) @ w  # noqa: E731
    joined = lambda x, labels=None: x @ w  # noqa: E731
    real, fake, eps = torch.randn(8, 3), torch.randn(8, 3), torch.rand(4)
    gp = losses.gradient_penalty(packed, real, fake, None, eps, pack=2)
    ref = losses.gradient_penalty(joined, real.reshape(4, 6), fake.reshape(4, 6), None, eps)
    torch.testing.assert_close(gp, ref)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_real_term_is_the_real_part_of_d_loss(name):
    """D's loss = real_term(real logits) + a part that does not depend on the real logits."""
    d_fn = losses.LOSSES[name][0]
    g = torch.Generator().manual_seed(0)
    r1, r2, f = (torch.randn(32, generator=g) for _ in range(3))
    rest1, rest2 = d_fn(r1, f) - losses.real_term(name, r1), d_fn(r2, f) - losses.real_term(name, r2)
    assert_close(rest1, rest2)
    assert not torch.allclose(losses.real_term(name, r1), losses.real_term(name, r2))
    smoothed = losses.d_nonsaturating(r1, f, 0.9) - losses.real_term("nonsaturating", r1, 0.9)
    assert_close(smoothed, losses.d_nonsaturating(r2, f, 0.9) - losses.real_term("nonsaturating", r2, 0.9))
