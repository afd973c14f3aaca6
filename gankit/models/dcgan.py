"""DCGAN (Radford et al. 2015) generator and discriminator, optionally class-conditional.

Strided (transposed) convolutions, no pooling; G: batch norm + ReLU, Tanh output; D: LeakyReLU(0.2),
no norm on the first layer. Built for square images whose side halves down to a small start grid:
28 -> 14 -> 7, 32 -> ... -> 4, 64 -> ... -> 4, and 8 -> 4 -> 2 for scikit-learn's digits.

Conditioning: G takes the one-hot label beside z (soft labels work too, for class interpolation);
D is a projection discriminator (Miyato & Koyama 2018): logit = w.h + embed(y).h on its last
features h, which conditions strongly at almost no cost.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gankit.errors import UserError
from gankit.models.base import MinibatchDiscrimination, MinibatchStd, init_dcgan_weights, one_hot, label_embedding


def upsampling_plan(size: int) -> tuple[int, int]:
    """Image side -> (start side, number of stride-2 stages). At least two stages where possible."""
    s, n = size, 0
    while s % 2 == 0 and s > 4:
        s, n = s // 2, n + 1
    if n < 2 and s % 2 == 0:  # small images (8x8 digits) still get two stages
        s, n = s // 2, n + 1
    if n == 0 or s > 7:
        raise UserError(
            f"DCGAN models need a square image side like 28, 32 or 64 (got {size}); "
            "pass --set image_size=32 or 64"
        )
    return s, n


def _spectral(m: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(m)


def _norm2d(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "layer":  # GroupNorm with one group normalises over (C, H, W) per sample
        return nn.GroupNorm(1, ch)
    return nn.Identity()


class DCGANGenerator(nn.Module):
    """z (N, z_dim) [+ label] -> (N, C, H, W) in [-1, 1], or raw per-pixel logits with
    out="logits" (a decoder whose pixels are Bernoulli probabilities sigmoid(logits): the vae)."""

    def __init__(self, z_dim: int, shape: Sequence[int], width: int = 64, num_classes: int = 0,
                 depth: int = 0, out: str = "tanh"):
        super().__init__()
        c, h, w = shape
        if h != w:
            raise UserError(f"DCGAN models need square images (got {h}x{w}); resize the data")
        self.z_dim, self.num_classes = z_dim, num_classes
        s0, n = upsampling_plan(h)
        ch = width * 2 ** (n - 1)
        self.start = (ch, s0, s0)
        self.fc = nn.Linear(z_dim + num_classes, ch * s0 * s0, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
            for _ in range(depth):  # more capacity at the same resolution
                layers += [nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1)] + ([nn.Tanh()] if out == "tanh" else [])
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        if self.num_classes:
            z = torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], dim=1)
        # shape[0], not len(): an exported graph keeps its batch size free
        return self.net(self.fc(z).view(z.shape[0], *self.start))


class DCGANDiscriminator(nn.Module):
    """x (N, C, H, W) [+ label] -> logits (N,).

    norm: "batch" (DCGAN), "layer", "none" (a WGAN-GP critic must not use batch norm: the
    penalty is per sample), or "spectral" (spectral normalisation of every weight, Miyato 2018).
    pack: PacGAN (Lin et al. 2018): D judges `pack` samples at once, stacked along channels, and
    returns one logit per pack, (N / pack,). Seeing several samples together, D can penalise a
    generator that repeats itself, which counters mode collapse. With labels (self-conditioning on
    clusters), the projection term uses the mean of the pack members' label embeddings.
    mbstd > 0: the minibatch standard deviation (Karras 2018, models/base.py's MinibatchStd) over
    groups of `mbstd_group` inputs, as `mbstd` extra feature maps on the last convolution's output.
    mbdisc > 0: minibatch discrimination (Salimans 2016, models/base.py) with that many kernels on
    the flattened features, before the last layer.
    """

    def __init__(self, shape: Sequence[int], width: int = 64, num_classes: int = 0,
                 norm: str = "batch", pack: int = 1, depth: int = 0, mbstd: int = 0, mbstd_group: int = 4,
                 mbdisc: int = 0):
        super().__init__()
        c, h, _ = shape
        self.pack = pack
        c = c * pack
        s0, n = upsampling_plan(h)
        sn = _spectral if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = [sn(nn.Conv2d(c, width, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        bias = norm in ("none", "spectral")
        for i in range(n - 1):
            for _ in range(depth if i == 0 else 0):  # more capacity at the first stage's resolution
                layers += [sn(nn.Conv2d(ch, ch, 3, 1, 1, bias=bias)), _norm2d(norm, ch),
                           nn.LeakyReLU(0.2, inplace=True)]
            layers += [sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=bias)),
                       _norm2d(norm, ch * 2), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        if mbstd:  # before Flatten: the layers before it keep their names (and checkpoints their keys)
            layers.append(MinibatchStd(mbstd_group, mbstd))
        features = (ch + mbstd) * s0 * s0
        tail = [MinibatchDiscrimination(features, mbdisc)] if mbdisc else []
        self.net = nn.Sequential(*layers, nn.Flatten(), *tail)
        features += mbdisc
        self.fc = nn.Linear(features, 1)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        init_dcgan_weights(self)
        if norm == "spectral":  # after init: the parametrization wraps the initialised weights
            self.fc = _spectral(self.fc)
            if self.embed is not None:
                self.embed = _spectral(self.embed)

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        if self.pack > 1:
            n, c, hh, ww = x.shape
            x = x.reshape(n // self.pack, self.pack * c, hh, ww)
        h = self.net(x)
        out = self.fc(h).squeeze(1)
        if self.embed is not None:
            out = out + (label_embedding(self.embed, labels, self.pack) * h).sum(1)
        return out
