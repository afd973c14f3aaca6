"""The 2-D Gaussian mixtures ring8, ring8-metz and grid25."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.data import DataSpec, load_dataset
from gankit.data.toy2d import mode_centres, mode_std
from gankit.errors import UserError


def test_mode_centres():
    ring = mode_centres("ring8")
    assert ring.shape == (8, 2) and ring.dtype == torch.float32
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    assert torch.allclose(ring[2], torch.tensor([0.0, 1.0]), atol=1e-6)
    angles = torch.atan2(ring[:, 1], ring[:, 0]).remainder(2 * math.pi)
    assert torch.allclose(angles, torch.arange(8) * (2 * math.pi / 8), atol=1e-5)
    grid = mode_centres("grid25")
    assert grid.shape == (25, 2)
    assert {tuple(p) for p in grid.tolist()} == {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert mode_std("ring8") == 0.01 and mode_std("grid25") == 0.05
    assert torch.allclose(mode_centres("ring8-metz"), 2 * ring) and mode_std("ring8-metz") == 0.02
    with pytest.raises(UserError):
        mode_centres("ring9")


@pytest.mark.parametrize("name, k", [("ring8", 8), ("ring8-metz", 8), ("grid25", 25)])
def test_samples_follow_the_spec(name, k):
    ds = load_dataset(name)
    assert ds.kind == "points" and ds.x.shape == (100_000, 2) and ds.x.dtype == torch.float32
    assert ds.num_classes == k and ds.labels.dtype == torch.int64
    centres, std = mode_centres(name), mode_std(name)
    # each point lies next to the centre of its own mode, with the stated spread per coordinate
    offsets = ds.x - centres[ds.labels]
    assert abs(offsets.std(dim=0) / std - 1).max() < 0.02
    assert offsets.mean(dim=0).abs().max() < 0.01 * std * 10
    nearest = torch.cdist(ds.x, centres).argmin(dim=1)
    assert torch.equal(nearest, ds.labels)
    counts = torch.bincount(ds.labels, minlength=k).float()
    assert (counts / counts.mean() - 1).abs().max() < 0.1  # modes drawn uniformly


def test_deterministic_and_splits_differ():
    a, b = load_dataset("ring8"), load_dataset("ring8")
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels)
    test = load_dataset("ring8", DataSpec(split="test"))
    assert test.x.shape == (25_000, 2) and not torch.equal(test.x[:100], a.x[:100])
    with pytest.raises(UserError, match="no split"):
        load_dataset("grid25", DataSpec(split="val"))
