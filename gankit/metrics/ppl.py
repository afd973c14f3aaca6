"""Perceptual path length (Karras et al. 2019, StyleGAN, section 4.2): how much the generated image
changes, per unit of latent distance, when the latent takes a tiny step along an interpolation.

For each of n pairs of latents (z0, z1) and t ~ U(0, 1):
    PPL = E[ d(G(slerp(z0, z1, t)), G(slerp(z0, z1, t + eps))) / eps^2 ],   eps = 1e-4,
the mean taken after dropping the pairs below the 1st and above the 99th percentile (as the paper
does). A generator whose images change smoothly along latent paths scores low; one that jumps
between images (a sign of memorized, stitched-together outputs) scores high.

What differs from the paper, and is written in the protocol: d is not LPIPS (its VGG weights cannot
be downloaded here) but the squared Euclidean distance between the domain classifier's penultimate
features, each vector scaled to unit length (LPIPS also normalises its features), so values are
comparable between runs of one dataset, not with published LPIPS numbers. Points datasets use the
points themselves. Latents are slerped in z (lerped for latents with codes, which are not
Gaussian); in w (lerp) where a model has a mapping network (`mapping`: z -> w, `synthesis`: w -> x).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

EPSILON = 1e-4
BATCH = 250


def classifier_features(extractor) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """Model-range float images (N, C, H, W) -> the domain classifier's features (N, F) scaled to
    unit length (per channel for Stacked MNIST), in float64
    and without rounding to uint8 (a step of 1e-4 in z changes pixels by far less than 1/255).
    None when the extractor is not gankit's classifier (Inception: PPL is not computed)."""
    from gankit.metrics.classifier import prepare

    model = getattr(extractor, "model", None)
    if model is None or not hasattr(model, "features"):
        return None
    per_channel = getattr(extractor, "per_channel", None)
    device = next(model.parameters()).device

    def features(x: torch.Tensor) -> torch.Tensor:
        x = x.float().to(device)
        chans = [x[:, c:c + 1] for c in range(x.shape[1])] if per_channel else [x]
        was = model.training
        model.eval()  # batch-norm running statistics, no dropout
        f = [F.normalize(model.features(prepare(c, model.image_size, device, model.in_channels)).double(), dim=1)
             for c in chans]
        model.train(was)
        return torch.cat(f, dim=1)
    return features


@torch.no_grad()
def path_length(generate: Callable, latents: Callable[[int, torch.Generator], torch.Tensor],
                features: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int = 0,
                labels: Optional[Callable[[int], Optional[torch.Tensor]]] = None,
                spherical: bool = True, epsilon: float = EPSILON) -> dict:
    """PPL over n latent pairs. generate(z, labels) -> model-range samples; latents(m, gen) draws m
    latents on the CPU; features(x) -> (m, F); labels(m): one label per pair (the same at both
    ends), or None. Returns {"ppl": mean over the 1..99th percentiles, "ppl_median", "n"}."""
    g = torch.Generator().manual_seed(seed)
    dist = []
    for i in range(0, n, BATCH):
        m = min(BATCH, n - i)
        z0, z1 = latents(m, g), latents(m, g)
        t = torch.rand(m, generator=g)
        a = _path(z0, z1, t, spherical)
        b = _path(z0, z1, t + epsilon, spherical)
        lab = labels(m) if labels is not None else None
        x = generate(torch.cat([a, b]), None if lab is None else torch.cat([lab, lab]))
        f = features(x).double()
        dist.append(((f[:m] - f[m:]) ** 2).sum(dim=1).cpu() / epsilon ** 2)
    d = torch.cat(dist)
    lo, hi = torch.quantile(d, 0.01), torch.quantile(d, 0.99)
    kept = d[(d >= lo) & (d <= hi)]
    return {"ppl": float(kept.mean()), "ppl_median": float(d.median()), "n": int(n)}


def _path(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, spherical: bool) -> torch.Tensor:
    """The point at t[i] on the great circle (or the line) from z0[i] to z1[i], computed in float64
    so that the step of epsilon is not lost to rounding; the same curve as gankit.latent.slerp."""
    a, b, tt = z0.double(), z1.double(), t.double()[:, None]
    if not spherical:
        return (a + (b - a) * tt).float()
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na, b / nb
    omega = torch.acos((ua * ub).sum(dim=1, keepdim=True).clamp(-1.0, 1.0))
    direction = (torch.sin((1 - tt) * omega) * ua + torch.sin(tt * omega) * ub) / torch.sin(omega)
    return (direction * (na * (1 - tt) + nb * tt)).float()


def protocol(n: int, space: str, points: bool = False) -> str:
    where = ("distance between the points themselves" if points else
             "squared distance between the domain classifier's penultimate features scaled to unit "
             "length (not LPIPS: its VGG weights cannot be downloaded here)")
    return (f"perceptual path length (Karras 2019): {n} latent pairs, t ~ U(0,1), epsilon {EPSILON:g}, "
            f"{space}; {where}, divided by epsilon^2; mean of the pairs between the 1st and 99th "
            "percentiles; comparable between runs of one dataset only")
