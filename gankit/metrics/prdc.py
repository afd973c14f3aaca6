"""Manifold metrics from k-nearest-neighbour balls in feature space.

- precision / recall (Kynkaanniemi et al. 2019, k = 3): the share of generated samples inside the
  real manifold (the union of balls around each real vector reaching its k-th nearest real
  neighbour), and the share of real vectors inside the generated manifold.
- density / coverage (Naeem et al. 2020, k = 5): density counts how many real balls hold each
  sample (1 on average for a perfect generator, and not capped at 1); coverage is the share of real
  balls that hold at least one sample.

Distances are Euclidean, computed in row blocks so 10k x 10k sets never hold a full matrix of
pairwise distances in memory at once.
"""

from __future__ import annotations

import torch

from gankit.metrics.distances import Array, as_f64

BLOCK = 2048


def _t(x: Array) -> torch.Tensor:
    return torch.from_numpy(as_f64(x))


def kth_nn_radius(x: Array, k: int) -> torch.Tensor:
    """(N,) distance from each vector to its k-th nearest other vector of the same set."""
    x = _t(x)
    if len(x) <= k:
        raise ValueError(f"need more than k={k} vectors, got {len(x)}")
    out = []
    for i in range(0, len(x), BLOCK):
        d = torch.cdist(x[i:i + BLOCK], x)
        # the smallest distance is the vector to itself (0); the k-th neighbour is index k
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(len(points),) how many balls (centres, radii) hold each point."""
    out = []
    for i in range(0, len(points), BLOCK):
        d = torch.cdist(points[i:i + BLOCK], centres)
        out.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(out)


def _nearest_sample_distance(centres: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(len(centres),) distance from each centre to its nearest point."""
    out = []
    for i in range(0, len(centres), BLOCK):
        out.append(torch.cdist(centres[i:i + BLOCK], points).min(dim=1).values)
    return torch.cat(out)


def precision_recall(real: Array, fake: Array, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` against real features `real`."""
    r, f = _t(real), _t(fake)
    precision = (_inside_counts(f, r, kth_nn_radius(r, k)) > 0).double().mean()
    recall = (_inside_counts(r, f, kth_nn_radius(f, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: Array, fake: Array, k: int = 5) -> tuple[float, float]:
    """(density, coverage) of generated features `fake` against real features `real`."""
    r, f = _t(real), _t(fake)
    radii = kth_nn_radius(r, k)
    density = _inside_counts(f, r, radii).double().sum() / (k * len(f))
    coverage = (_nearest_sample_distance(r, f) <= radii).double().mean()
    return float(density), float(coverage)
