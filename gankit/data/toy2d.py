"""2-D Gaussian mixtures for mode-collapse experiments, following the PacGAN protocol.

ring8:  8 modes on the unit circle at angles 2*pi*k/8, std 0.01.
ring8-metz: the same angles on a circle of radius 2, std 0.02 (Metz et al. 2017's ring).
grid25: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05 (left unscaled: the points models' output layer
        is linear, so values around +-4 are fine).
Each point picks a mode uniformly at random. Splits are fixed samples: "train" 100000 points drawn
with seed 0, "test" 25000 points with seed 1. labels = the mode index of each point.
"""

from __future__ import annotations

import math

import torch

from gankit.data.base import DataSpec, Dataset
from gankit.data.registry import register
from gankit.data.transforms import check_split
from gankit.errors import UserError

SPLIT_SIZES = {"train": 100_000, "test": 25_000}
SPLIT_SEEDS = {"train": 0, "test": 1}
_STD = {"ring8": 0.01, "ring8-metz": 0.02, "grid25": 0.05}
_RADIUS = {"ring8": 1.0, "ring8-metz": 2.0}
_NAMES = "ring8, ring8-metz or grid25"


def mode_centres(name: str) -> torch.Tensor:
    """The mode centres of `name`: float32 (K, 2); K = 8 for the rings, 25 for grid25 (the 1-D
    mixtures of toy1d: (K, 1))."""
    from gankit.data import toy1d

    if name in toy1d.MIXTURES:
        return toy1d.mode_centres(name)
    if name in _RADIUS:
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (_RADIUS[name] * torch.stack([angles.cos(), angles.sin()], dim=1)).float()
    if name == "grid25":
        vals = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        gx, gy = torch.meshgrid(vals, vals, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    raise UserError(f"unknown 2-D mixture {name!r}; use {_NAMES}")


def mode_std(name: str) -> float:
    """The standard deviation of each mode of `name` (the same in both coordinates)."""
    from gankit.data import toy1d

    if name in toy1d.MIXTURES:
        return toy1d.mode_std(name)
    if name not in _STD:
        raise UserError(f"unknown 2-D mixture {name!r}; use {_NAMES}")
    return _STD[name]


def sample_mixture(name: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of mixture `name`, deterministic by seed: (x float32 (n, 2), mode int64 (n,))."""
    centres, std = mode_centres(name), mode_std(name)
    g = torch.Generator().manual_seed(seed)
    modes = torch.randint(0, len(centres), (n,), generator=g)
    x = centres[modes] + std * torch.randn(n, 2, generator=g)
    return x.float(), modes


def _load(name: str, spec: DataSpec) -> Dataset:
    split = check_split(name, spec.split)
    x, modes = sample_mixture(name, SPLIT_SIZES[split], SPLIT_SEEDS[split])
    k = len(mode_centres(name))
    return Dataset(
        name,
        x=x,
        labels=modes,
        num_classes=k,
        class_names=[f"mode {i}" for i in range(k)],
        kind="points",
        source=f"synthetic (seed {SPLIT_SEEDS[split]})",
    )


@register("ring8", "2-D mixture of 8 Gaussians on the unit circle, std 0.01 (PacGAN); 100000 points", kind="points")
def load_ring8(spec: DataSpec) -> Dataset:
    """x: float32 (100000, 2) for train, (25000, 2) for test; labels: int64 mode index in 0..7."""
    return _load("ring8", spec)


@register("ring8-metz", "2-D mixture of 8 Gaussians on a circle of radius 2, std 0.02 (Metz 2017's unrolled GAN); "
          "100000 points", kind="points")
def load_ring8_metz(spec: DataSpec) -> Dataset:
    """x: float32 (100000, 2) for train, (25000, 2) for test; labels: int64 mode index in 0..7."""
    return _load("ring8-metz", spec)


@register(
    "grid25",
    "2-D mixture of 25 Gaussians on a 5x5 grid over [-4, 4]^2, std 0.05 (PacGAN); 100000 points",
    kind="points",
)
def load_grid25(spec: DataSpec) -> Dataset:
    """x: float32 (100000, 2) for train, (25000, 2) for test; labels: int64 mode index in 0..24."""
    return _load("grid25", spec)
