"""Projection (GAN inversion): the latent whose generated image is closest to a given image.

The recipe follows the description of the StyleGAN2 projector (Karras et al. 2020, appendix D):
Adam on the latent, starting from the mean latent; the learning rate ramps up over the first 5%
of the steps and down (cosine) over the last 25%; Gaussian noise added to the latent at each step,
std 0.05 x the latents' spread at the start, ramped down quadratically to zero at 75% of the steps.

What differs, and why:
- The loss is the mean squared pixel difference plus `feature_weight` x the squared distance
  between the domain classifier's penultimate features scaled to unit length (gankit's stand-in
  for LPIPS, whose VGG weights cannot be downloaded here). A dataset without a classifier uses the
  pixel term alone.
- Generators with a discrete part (a class label, a self-conditioning cluster chosen by z_0, an
  InfoGAN category) cannot move between those parts by gradient descent, so the start is the best
  of the mean latent and `starts` drawn latents (for a conditional model without a given label, at
  every class), scored by the same loss.
- No mapping network or per-layer noise maps in gankit's generators, so the latent is z.

Images are handled in a batch, each independently (Adam's state is per element); `project` returns
per-image distances, which the tampering bench uses as the test statistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from gankit.errors import UserError


@dataclass
class Projection:
    """What `project` found for N target images."""

    z: torch.Tensor  # (N, Z) the latents
    labels: Optional[torch.Tensor]  # (N,) the class each was projected at (conditional models)
    images: torch.Tensor  # (N, C, H, W) model range: G(z)
    pixel: torch.Tensor  # (N,) mean squared pixel difference (model range) to the target
    feature: torch.Tensor  # (N,) squared distance of unit-length classifier features (0 without one)
    loss: torch.Tensor  # (N,) pixel + feature_weight * feature
    progress: torch.Tensor  # (S, N, C, H, W) G(z) at `snapshots` evenly spaced steps
    history: torch.Tensor  # (steps,) the batch's mean loss per step


def lr_schedule(step: int, steps: int, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """The projector's learning rate at `step` of `steps`: linear ramp up over the first `rampup`
    share, cosine ramp down over the last `rampdown` share."""
    t = step / steps
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / rampup)


def noise_scale(step: int, steps: int, spread: float, initial: float = 0.05, length: float = 0.75) -> float:
    """The std of the noise added to the latent at `step`: `initial` x spread, ramped down
    quadratically to 0 at `length` of the steps."""
    return spread * initial * max(0.0, 1.0 - (step / steps) / length) ** 2


def classifier_distance(model) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """(x, target) model-range images -> (N,) squared distance of their unit-length features in
    the domain classifier `model` (kept in eval mode; gradients flow to x)."""
    from gankit.metrics.classifier import prepare

    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    device = next(model.parameters()).device
    size, chans = model.image_size, model.in_channels

    def feats(x: torch.Tensor) -> torch.Tensor:
        return F.normalize(model.features(prepare(x.float().to(device), size, device, chans)), dim=1)

    def distance(x: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
        return ((feats(x) - target_features) ** 2).sum(dim=1)
    distance.features = feats  # type: ignore[attr-defined]
    return distance


def project(generate: Callable, latents: Callable[[int, torch.Generator], torch.Tensor],
            target: torch.Tensor, feature_distance=None, steps: int = 500, lr: float = 0.1,
            noise: float = 0.05, feature_weight: float = 1.0, starts: int = 16, seed: int = 0,
            num_classes: int = 0, label: Optional[int] = None, snapshots: int = 8,
            device: torch.device = torch.device("cpu")) -> Projection:
    """Project model-range images `target` (N, C, H, W) into a generator.

    generate(z, labels) -> model-range images (gradients flow to z); latents(m, gen) draws m
    latents on the CPU; feature_distance: `classifier_distance(model)` or None (pixels only);
    num_classes > 0 for a conditional generator (label: the class to project at, else the best).
    """
    if steps < 1:
        raise UserError("steps must be at least 1")
    if not 0 <= starts <= 10_000 or not 1 <= snapshots <= 1000:
        raise UserError(f"starts must be in 0..10000 and snapshots in 1..1000, got {starts} and {snapshots}")
    if not (lr > 0 and noise >= 0 and feature_weight >= 0):
        raise UserError(f"lr must be positive and noise, feature_weight at least 0; got {lr}, {noise}, {feature_weight}")
    target = target.float().to(device)
    n = len(target)
    g = torch.Generator().manual_seed(seed)
    pool = latents(max(1000, starts), g)
    mean = pool.mean(0, keepdim=True)
    spread = float(((pool - mean) ** 2).sum(1).mean().sqrt())  # the projector's scalar w_std
    candidates = torch.cat([mean, pool[:starts]]).to(device)  # (S, Z)
    tf = feature_distance.features(target).detach() if feature_distance is not None else None

    def loss_of(x, tgt, tfeat):
        pixel = ((x - tgt) ** 2).flatten(1).mean(1)
        feat = feature_distance(x, tfeat) if feature_distance is not None else torch.zeros_like(pixel)
        return pixel + feature_weight * feat, pixel, feat

    # the start: the best candidate latent (and class) for each image
    classes = [label] if label is not None else list(range(num_classes)) if num_classes else [None]
    best = torch.full((n,), float("inf"), device=device)
    z0 = candidates[:1].expand(n, -1).clone()
    lab0 = None if classes == [None] else torch.zeros(n, dtype=torch.int64, device=device)
    with torch.no_grad():
        for c in classes:
            lab = None if c is None else torch.full((len(candidates),), c, dtype=torch.int64, device=device)
            x = generate(candidates, lab)
            for i in range(n):
                l, _, _ = loss_of(x, target[i:i + 1].expand_as(x),
                                  None if tf is None else tf[i:i + 1].expand(len(x), -1))
                j = int(l.argmin())
                if l[j] < best[i]:
                    best[i], z0[i] = l[j], candidates[j]
                    if lab0 is not None:
                        lab0[i] = c
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], betas=(0.9, 0.999), lr=lr)
    keep = sorted({round(k * (steps - 1) / max(1, snapshots - 1)) for k in range(snapshots)})
    progress, history = [], []
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_schedule(step, steps, lr)
        sigma = noise_scale(step, steps, spread, noise)
        zn = z + sigma * torch.randn(z.shape, generator=noise_gen, device=device) if sigma > 0 else z
        total, _, _ = loss_of(generate(zn, lab0), target, tf)
        opt.zero_grad(set_to_none=True)
        total.sum().backward()
        opt.step()
        history.append(float(total.detach().mean()))
        if step in keep:
            with torch.no_grad():
                progress.append(generate(z, lab0).detach().float().cpu())
    with torch.no_grad():
        x = generate(z, lab0)
        total, pixel, feat = loss_of(x, target, tf)
    return Projection(z=z.detach().cpu(), labels=None if lab0 is None else lab0.cpu(),
                      images=x.detach().float().cpu(), pixel=pixel.cpu(), feature=feat.cpu(),
                      loss=total.cpu(), progress=torch.stack(progress), history=torch.tensor(history))


def read_image(path, shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file -> model-range float (C, H, W) of the run's `shape`; a one-line error for a
    missing or unreadable file, another size, or colour given to a grey model."""
    from pathlib import Path

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"no image file {p}")
    try:
        with Image.open(p) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"cannot read {p} as an image ({type(e).__name__})") from None
    c, h, w = shape
    if arr.shape[:2] != (h, w):
        raise UserError(f"{p} is {arr.shape[1]}x{arr.shape[0]} pixels but the run makes {w}x{h} images; "
                        "resize it first")
    if c == 1:
        if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
            raise UserError(f"{p} is a colour image but the run makes grey images; convert it to grey first")
        arr = arr[..., :1]
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).float()
    return x.mul_(2.0 / 255.0).sub_(1.0)
