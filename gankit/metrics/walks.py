"""Memorization by latent walks (Radford et al. 2015, section 6.1): walk between latents and see
how the images change. A generator that has learnt the data's structure changes its images
smoothly; one that stores training images and switches between them jumps.

For W walks of S images each: the step distances between consecutive images (domain-classifier
features scaled to unit length, as the perceptual path length uses), and per walk the jump ratio,
the largest step over the mean step (1 for a walk of equal steps; (S - 1) / J for a walk that
holds still and jumps J times). The yardstick is the same ratio for the walk's nearest training
images (pixel space): what a generator that replayed its training images along the same walk
would score. The report also counts the distinct nearest training images a walk passes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def jump_ratios(feats: torch.Tensor) -> torch.Tensor:
    """(W, S, F) features of W walks -> (W,) max step / mean step (1 where a walk does not move)."""
    d = (feats[:, 1:] - feats[:, :-1]).norm(dim=2).double()
    mean = d.mean(1)
    return torch.where(mean > 0, d.max(1).values / mean.clamp_min(1e-12), torch.ones_like(mean))


def walk_report(walk_feats: torch.Tensor, nearest_feats: torch.Tensor, nearest_idx: torch.Tensor) -> dict:
    """walk_feats, nearest_feats: (W, S, F) features of the walks' images and of their nearest
    training images; nearest_idx: (W, S) those images' indices."""
    g = jump_ratios(F.normalize(walk_feats.double(), dim=2))
    r = jump_ratios(F.normalize(nearest_feats.double(), dim=2))
    distinct = torch.tensor([float(len(row.unique())) for row in nearest_idx])
    w, s = nearest_idx.shape
    return {"walks": w, "steps": s,
            "jump_ratio_median": round(float(g.median()), 4), "jump_ratio_q90": round(float(torch.quantile(g, 0.9)), 4),
            "replay_jump_ratio_median": round(float(r.median()), 4),
            "distinct_nearest_mean": round(float(distinct.mean()), 2)}
