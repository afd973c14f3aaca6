"""k-means clusters of a dataset, the labels a self-conditioned GAN trains on.

Items are compared as flat vectors in the model's range ([-1, 1] for images). The centres are fit
on a seeded subsample (k-means++ seeding, then Lloyd iterations), and every item is then assigned
to its nearest centre, so `ids` is exactly `assign(x, centers)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.data.base import to_model_range
from gankit.errors import UserError
from gankit.progress import Work

FIT_ITEMS = 20_000  # the centres are fit on at most this many items
ITERATIONS = 20
CHUNK = 8192  # items per distance block (bounds memory on large image folders)


@dataclass
class Clusters:
    centers: torch.Tensor  # (K, D) float32, in the model's range
    ids: torch.Tensor  # (N,) int64: each item's nearest centre
    prior: torch.Tensor  # (K,) float32: the share of the items in each cluster


def _flat(x: torch.Tensor) -> torch.Tensor:
    return to_model_range(x).reshape(len(x), -1).float()


@torch.no_grad()
def assign(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """The index of each item's nearest centre. x: (N, ...) uint8 images or float vectors."""
    c2 = (centers * centers).sum(1)
    out = []
    for i in range(0, len(x), CHUNK):
        v = _flat(x[i:i + CHUNK])
        out.append((c2 - 2 * (v @ centers.T)).argmin(1))  # |v|^2 is the same for every centre
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64, device=x.device)


@torch.no_grad()
def kmeans(x: torch.Tensor, k: int, seed: int = 0) -> Clusters:
    """k clusters of the items in x (uint8 images (N, C, H, W) or float points (N, D))."""
    n = len(x)
    if not 2 <= k <= n:
        raise UserError(f"clusters must be between 2 and the number of training items ({n}), got {k}")
    g = torch.Generator().manual_seed(seed)
    sub = torch.randperm(n, generator=g)[:FIT_ITEMS].to(x.device)
    v = _flat(x[sub])
    v2 = (v * v).sum(1)
    # k-means++: the first centre is uniform, each next one drawn with probability proportional
    # to the squared distance to the nearest centre chosen so far
    centers: list[torch.Tensor] = []
    d = None
    for _ in range(k):
        if d is None or float(d.sum()) <= 0:  # the first, or fewer distinct items than clusters
            i = int(torch.randint(len(v), (1,), generator=g))
        else:
            i = int(torch.multinomial(d.cpu(), 1, generator=g))
        centers.append(v[i])
        new = (v2 - 2 * (v @ v[i]) + v[i].dot(v[i])).clamp_min(0)
        d = new if d is None else torch.minimum(d, new)
    c = torch.stack(centers)
    with Work(f"k-means: {k} clusters of {len(v)} items", ITERATIONS, "iteration") as work:
        for _ in range(ITERATIONS):
            ids = assign(v, c)
            count = torch.bincount(ids, minlength=k).to(v.dtype)
            sums = torch.zeros_like(c).index_add_(0, ids, v)
            c = torch.where(count[:, None] > 0, sums / count.clamp_min(1)[:, None], c)  # empty: keep
            work.update()
    ids = assign(x, c)
    prior = torch.bincount(ids, minlength=k).float() / n
    return Clusters(c, ids, prior)
