"""GAN losses as pure functions of the discriminator's raw logits.

Sign convention, for every function here: the value returned is minimised by the player it is
named for (d_* by the discriminator/critic, g_* by the generator). Logits are raw scores of any
shape, never probabilities; log-sigmoid terms are written with softplus, which is exact and stable:
    log D(x)      = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x)) = log sigmoid(-l)    = -softplus(l)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def real_term(loss: str, real_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """The real images' part of D's loss `loss` (a LOSSES name): D's loss on the real batch alone.
    An unrolled G's loss takes it through the unrolled D (gankit/algorithms/gan.py)."""
    r = real_logits
    if loss in PROBABILITY_LOSSES:
        t = real_target
        return (t * F.softplus(-r) + (1.0 - t) * F.softplus(r)).mean()
    if loss == "hinge":
        return F.relu(1.0 - r).mean()
    if loss == "least-squares":
        return 0.5 * (r - 1.0).pow(2).mean()
    if loss == "wasserstein":
        return -r.mean()
    raise ValueError(f"unknown loss {loss!r}")


def d_nonsaturating(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))]; the standard GAN discriminator loss.

    real_target < 1 is one-sided label smoothing (Salimans et al. 2016): real images are scored
    against the soft target t, i.e. -t log D(x) - (1 - t) log(1 - D(x)); fakes keep target 0.
    """
    return real_term("nonsaturating", real_logits, real_target) + F.softplus(fake_logits).mean()


def g_nonsaturating(fake_logits: Tensor) -> Tensor:
    """-E[log D(G(z))]: the non-saturating generator loss (strong gradients early in training)."""
    return F.softplus(-fake_logits).mean()


def g_minimax(fake_logits: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))]: the original minimax (saturating) generator loss."""
    return -F.softplus(fake_logits).mean()


def d_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[C(G(z))] - E[C(x)]: the WGAN critic loss (minus the Wasserstein estimate)."""
    return fake_logits.mean() + real_term("wasserstein", real_logits)


def g_wasserstein(fake_logits: Tensor) -> Tensor:
    """-E[C(G(z))]: the WGAN generator loss."""
    return -fake_logits.mean()


def d_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]: the hinge discriminator loss."""
    return real_term("hinge", real_logits) + F.relu(1.0 + fake_logits).mean()


def g_hinge(fake_logits: Tensor) -> Tensor:
    """-E[D(G(z))]: the hinge generator loss."""
    return -fake_logits.mean()


def d_least_squares(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """(E[(D(x) - 1)^2] + E[D(G(z))^2]) / 2: the LSGAN discriminator loss (a=0, b=1)."""
    return real_term("least-squares", real_logits) + 0.5 * fake_logits.pow(2).mean()


def g_least_squares(fake_logits: Tensor) -> Tensor:
    """E[(D(G(z)) - 1)^2] / 2: the LSGAN generator loss (c=1)."""
    return 0.5 * (fake_logits - 1.0).pow(2).mean()


def gradient_penalty(critic, real: Tensor, fake: Tensor, labels: Tensor | None, eps: Tensor,
                     pack: int = 1) -> Tensor:
    """E[(||grad_x C(x_hat)||_2 - 1)^2] at x_hat = eps*real + (1-eps)*fake (Gulrajani et al. 2017).

    real, fake: (N, ...) same shape; eps: (N / pack,) uniform in [0, 1], passed in so that the
    caller's random stream decides it. pack > 1 (PacGAN): the critic scores packs of `pack`
    consecutive samples, so each pack is one point on the line from a real pack to a fake pack (one
    eps for its members) and the norm is that of the gradient over the whole pack.
    Returns the penalty without its weight lambda.
    """
    if pack > 1:
        eps = eps.repeat_interleave(pack)
    e = eps.view(-1, *([1] * (real.dim() - 1))).to(real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, labels)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.reshape(len(grad) // pack, -1).norm(2, dim=1) - 1.0).pow(2).mean()


# --- the semi-supervised GAN (Salimans et al. 2016, section 5): D is a K-class classifier of
# the real data; generated images are a (K+1)-th class whose logit is fixed at 0, so with
# Z(x) = sum_k exp(l_k(x)), D(x) = p(real | x) = Z / (Z + 1) = sigmoid(logsumexp_k l_k(x)).

def real_logit(class_logits: Tensor) -> Tensor:
    """(N, K) class logits -> (N,) the logit of D(x) = p(real | x): logsumexp over the K classes
    (the fake class's logit is the fixed 0, so this is log Z(x) - 0)."""
    return torch.logsumexp(class_logits, dim=-1)


def d_supervised(class_logits: Tensor, labels: Tensor) -> Tensor:
    """-E[log p(y | x, y < K+1)] on labelled real images: the cross-entropy of the K class logits
    (N, K) with the labels (N,) int64 (the fake class's fixed logit does not enter)."""
    return F.cross_entropy(class_logits, labels)


def d_unsupervised(real_class_logits: Tensor, fake_class_logits: Tensor) -> Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))] with D(x) = sigmoid(logsumexp_k l_k(x)): the standard
    discriminator loss on the (K+1)-class reading of the class logits (N, K) of unlabelled real
    images and of generated ones; softplus(-real_logit) and softplus(real_logit), exact and stable."""
    return d_nonsaturating(real_logit(real_class_logits), real_logit(fake_class_logits))


def g_feature_matching(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """||E f(x) - E f(G(z))||^2 / F: the squared distance between the batch means of an
    intermediate layer's features (N, F) of D on real and on generated images, averaged over the F
    features (Salimans et al. 2016's feature matching; their released code takes the mean)."""
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).mean()


# name -> (discriminator loss, generator loss), for the `loss` config key
LOSSES = {
    "nonsaturating": (d_nonsaturating, g_nonsaturating),
    "minimax": (d_nonsaturating, g_minimax),
    "hinge": (d_hinge, g_hinge),
    "least-squares": (d_least_squares, g_least_squares),
    "wasserstein": (d_wasserstein, g_wasserstein),
}
# the losses whose D output is a logit read as a probability through its sigmoid: their G loss
# saturates when D is sure (least squares, hinge and Wasserstein give G a gradient however sure)
PROBABILITY_LOSSES = ("nonsaturating", "minimax")


def decision_threshold(loss: str) -> float:
    """The D output above which a loss's D calls an image real: 0.5 for least squares (targets 1
    and 0), else 0 (a logit's sigmoid of 0.5; hinge's margins +-1)."""
    return 0.5 if loss == "least-squares" else 0.0
