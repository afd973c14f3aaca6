"""Self-conditioning (Liu et al. 2020, "Diverse image generation via self-conditioned GANs"):
an unconditional GAN that trains as a conditional one on k-means clusters of its training data.

The clusters split the data into many small, simpler modes; D judges each image against its own
cluster (a projection discriminator) and G is told which cluster to draw, which keeps G from
dropping any of them. No labels are used. Outside training both networks look unconditional:

- SelfConditionedG(z) draws the cluster from z itself: u = Phi(z_0) is uniform, the cluster is
  the bucket of u in the clusters' cumulative shares, and z_0 is replaced by Phi^-1 of u's place
  inside that bucket. The cluster then follows the data's cluster shares and the new z_0 is again
  standard normal, independent of it, exactly the inputs G trained on. `split(z)` exposes the pair.
- SelfConditionedD(x) assigns x to its nearest cluster centre and judges it there.
Both still take explicit labels (cluster ids, or soft one-hots for G), as training passes them.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from gankit.data.clusters import assign, kmeans

_EPS = 1e-6  # keeps Phi^-1 finite


class SelfConditionedG(nn.Module):
    def __init__(self, net: nn.Module, k: int):
        super().__init__()
        self.net, self.num_clusters = net, k
        self.register_buffer("prior", torch.full((k,), 1.0 / k))  # set from the data before training

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (N, Z) -> (z' (N, Z), cluster ids (N,)): z' is z with z_0 redrawn inside the bucket."""
        z = z.float()
        u = 0.5 * (1 + torch.erf(z[:, 0] / math.sqrt(2)))
        edges = torch.cat([self.prior.new_zeros(1), torch.cumsum(self.prior.float(), 0)])
        edges = edges / edges[-1]  # bucket c is [edges[c], edges[c + 1])
        ids = torch.searchsorted(edges[1:], u, right=True).clamp_max(self.num_clusters - 1)
        width = (edges[ids + 1] - edges[ids]).clamp_min(_EPS)
        v = ((u - edges[ids]) / width).clamp(_EPS, 1 - _EPS)
        z = z.clone()
        z[:, 0] = math.sqrt(2) * torch.erfinv(2 * v - 1)
        return z, ids

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        if labels is None:
            z, labels = self.split(z)
        return self.net(z, labels)


class SelfConditionedD(nn.Module):
    def __init__(self, net: nn.Module, k: int, dim: int):
        super().__init__()
        self.net, self.num_clusters = net, k
        self.register_buffer("centers", torch.zeros(k, dim))  # set from the data before training

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        if labels is None:
            with torch.autocast(x.device.type, enabled=False):  # fp32 distances: bf16 would misassign
                labels = assign(x, self.centers)
        return self.net(x, labels)


def wrap(G: nn.Module, D: nn.Module, k: int, dim: int) -> tuple[SelfConditionedG, SelfConditionedD]:
    """The self-conditioned pair around a conditional G and D built for k labels; `fit` sets
    their cluster shares and centres from the training data."""
    return SelfConditionedG(G, k), SelfConditionedD(D, k, dim)


def fit(G: SelfConditionedG, D: SelfConditionedD, x: Tensor, k: int, seed: int) -> Tensor:
    """k-means of the training items x: the shares go into G, the centres into D (both buffers,
    so checkpoints keep them). Returns every item's cluster id, the labels G and D train on."""
    found = kmeans(x, k, seed)
    G.prior.copy_(found.prior)
    D.centers.copy_(found.centers)
    return found.ids


def assign_all(D: SelfConditionedD, x: Tensor) -> Tensor:
    """Every training item's cluster under D's saved centres (on resume: the checkpoint decides
    the clusters, not a k-means run on this machine)."""
    return assign(x, D.centers)
