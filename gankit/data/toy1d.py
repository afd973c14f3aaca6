"""1-D data for the optimal-discriminator figure (Goodfellow et al. 2014, Fig. 1).

gauss1d: one Gaussian, mean 2, std 0.5.
mix1d:   an equal mixture of two Gaussians at -2 and +2, std 0.5 each.
Points are float32 (N, 1); splits are fixed samples ("train" 5000 points with seed 0, so that
epochs, and with them the snapshots, come often; "test" 25000 with seed 1) and labels are the mode index. Their densities are known in closed form, so a
discriminator can be compared with the optimal one, D*(x) = p_data(x) / (p_data(x) + p_g(x)).
"""

from __future__ import annotations

import math

import torch

from gankit.data.base import DataSpec, Dataset
from gankit.data.registry import register
from gankit.data.transforms import check_split

SPLIT_SIZES = {"train": 5_000, "test": 25_000}  # a short epoch: a snapshot (and a panel) every 79 steps
SPLIT_SEEDS = {"train": 0, "test": 1}
MIXTURES = {"gauss1d": ((2.0,), 0.5), "mix1d": ((-2.0, 2.0), 0.5)}  # name -> (means, std)


def mode_centres(name: str) -> torch.Tensor:
    """float32 (K, 1): the means of `name`'s components."""
    return torch.tensor(MIXTURES[name][0]).float()[:, None]


def mode_std(name: str) -> float:
    return MIXTURES[name][1]


def density(name: str, x: torch.Tensor) -> torch.Tensor:
    """p_data(x) of `name` at x (any shape), float64."""
    means, std = MIXTURES[name]
    x = x.double()
    p = sum(torch.exp(-0.5 * ((x - m) / std) ** 2) for m in means) / (len(means) * std * math.sqrt(2 * math.pi))
    return p


def _load(name: str, spec: DataSpec) -> Dataset:
    split = check_split(name, spec.split)
    means, std = MIXTURES[name]
    g = torch.Generator().manual_seed(SPLIT_SEEDS[split])
    n = SPLIT_SIZES[split]
    modes = torch.randint(0, len(means), (n,), generator=g)
    x = torch.tensor(means)[modes][:, None] + std * torch.randn(n, 1, generator=g, dtype=torch.float64)
    k = len(means)
    return Dataset(name, x=x.float(), labels=modes, num_classes=k, class_names=[f"mode {i}" for i in range(k)],
                   kind="points", source=f"synthetic (seed {SPLIT_SEEDS[split]})")


@register("gauss1d", "1-D Gaussian, mean 2, std 0.5 (optimal-D figure); 5000 points", kind="points")
def load_gauss1d(spec: DataSpec) -> Dataset:
    return _load("gauss1d", spec)


@register("mix1d", "1-D mixture of two Gaussians at -2 and 2, std 0.5 (optimal-D figure); 5000 points",
          kind="points")
def load_mix1d(spec: DataSpec) -> Dataset:
    return _load("mix1d", spec)
