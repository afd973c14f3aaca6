"""How well a trained discriminator tells real test images from generated ones.

D is run as in training: in train mode (batch statistics), on batches that are all real or all
generated, without gradients. The decision threshold is the objective's (gankit/objectives): 0 for
logit losses (nonsaturating, minimax, hinge), 0.5 for least squares (targets 1 and 0), and for a
Wasserstein critic, which has no fixed threshold, the midpoint of its mean scores on the two sets.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn


@torch.no_grad()
def _scores(D: nn.Module, x: torch.Tensor, labels: Optional[torch.Tensor], batch_size: int) -> torch.Tensor:
    device = next(D.parameters()).device
    out = []
    for i in range(0, len(x) - batch_size + 1, batch_size):  # full batches only (PacGAN groups)
        lab = labels[i:i + batch_size].to(device) if labels is not None else None
        out.append(D(x[i:i + batch_size].to(device), lab).float().reshape(-1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def accuracy(D: nn.Module, threshold: Callable[[torch.Tensor, torch.Tensor], float], real: torch.Tensor, fake: torch.Tensor,
             real_labels: Optional[torch.Tensor] = None, fake_labels: Optional[torch.Tensor] = None,
             batch_size: int = 64) -> dict:
    """{"d_acc_real", "d_acc_fake", "d_threshold"} for model-range images (N, C, H, W); {} when
    either set holds less than one full batch (nothing scored)."""
    was_training = D.training
    D.train()
    try:
        r = _scores(D, real, real_labels, batch_size)
        f = _scores(D, fake, fake_labels, batch_size)
    finally:
        D.train(was_training)
    if not len(r) or not len(f):
        return {}
    threshold = threshold(r, f)
    return {
        "d_acc_real": round(float((r > threshold).double().mean()), 6),
        "d_acc_fake": round(float((f <= threshold).double().mean()), 6),
        "d_threshold": round(threshold, 6),
    }
