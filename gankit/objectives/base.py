"""What an objective is: D's and G's losses for a batch, and nothing about optimizers.

The training loop calls, for each discriminator step,
    loss, stats = objective.d_loss(D, real, fake, labels, gen)   # fake is detached
    (backward, step)
    objective.after_d_step(D)                                    # e.g. weight clipping
and for each generator step
    loss, stats = objective.g_loss(D, fake, labels)
(an unrolled G step also calls objective.real_loss(D_K, real, labels) on the unrolled D).
`stats` maps names to detached scalar tensors the loop averages into metrics.jsonl.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from gankit.losses import PROBABILITY_LOSSES, decision_threshold
from gankit.registry import Registry

Stats = dict[str, Tensor]


class Objective:
    def d_loss(self, D: nn.Module, real: Tensor, fake: Tensor, labels: Tensor | None,
               gen: torch.Generator) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def g_loss(self, D: nn.Module, fake: Tensor, labels: Tensor | None) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def real_loss(self, D: nn.Module, real: Tensor, labels: Tensor | None) -> Tensor:
        """The real batch's term of d_loss alone (no penalties): G's unrolled loss subtracts it,
        taken through the unrolled D, so G's loss is the paper's value function f(G, D_K)."""
        raise NotImplementedError

    def after_d_step(self, D: nn.Module) -> None:
        """Called after each discriminator optimizer step (WGAN clips weights here)."""

    def project(self, params: dict[str, Tensor]) -> dict[str, Tensor]:
        """What after_d_step does, on a functional copy of D's parameters by name (the unrolled
        D of the Unrolled GAN); returns the new dict."""
        return params

    def threshold(self, real_scores: Tensor, fake_scores: Tensor) -> float:
        """The score above which D calls an image real: 0 for logits (their sigmoid is 0.5)."""
        return 0.0


@dataclass
class ObjectiveEntry:
    build: Callable[[object], Objective]  # cfg -> Objective
    description: str


OBJECTIVES: Registry[ObjectiveEntry] = Registry("objective", "gankit models")


def register(name: str, description: str):
    def wrap(fn):
        OBJECTIVES.register(name, ObjectiveEntry(fn, description))
        return fn
    return wrap


def logit_stats(real_logits: Tensor, fake_logits: Tensor, loss: str = "nonsaturating") -> Stats:
    """D(x), D(G(z)) and D's accuracy on real (score above the loss's threshold) and fake (at or
    below it). For the cross-entropy losses the means are probabilities (the logits' sigmoid),
    threshold 0; least squares and hinge score on their own scale (targets 1 and 0: threshold 0.5;
    margins +-1: threshold 0), so d_real and d_fake are D's mean raw scores."""
    r, f = real_logits.detach().float(), fake_logits.detach().float()
    t, prob = decision_threshold(loss), loss in PROBABILITY_LOSSES
    return {
        "d_real": (torch.sigmoid(r) if prob else r).mean(),
        "d_fake": (torch.sigmoid(f) if prob else f).mean(),
        "d_acc_real": (r > t).float().mean(),
        "d_acc_fake": (f <= t).float().mean(),
    }
