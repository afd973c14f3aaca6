"""A few labelled images per class, chosen by seed: the labelled set of `gankit features` (a
linear classifier on D's features) and of the semi-supervised GAN (`ssgan`)."""

from __future__ import annotations

import torch

from gankit.errors import UserError


def labelled_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices (int64, sorted) of `per_class` images of each class present in `labels` (int64
    (N,)), each class's drawn by a randperm of a CPU generator seeded with `seed`, class by class
    in increasing order: the same indices for the same labels and seed on any machine."""
    g = torch.Generator().manual_seed(seed)
    idx = []
    for c in labels.unique().tolist():
        pool = (labels == c).nonzero().flatten()
        if len(pool) < per_class:
            raise UserError(f"class {c} has only {len(pool)} training images; ask for at most that many per class")
        idx.append(pool[torch.randperm(len(pool), generator=g)[:per_class]])
    return torch.cat(idx).sort().values
