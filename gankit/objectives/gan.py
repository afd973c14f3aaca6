"""The classic GAN objective family: a discriminator scored by a loss on its logits.

`loss` picks the pair from gankit.losses.LOSSES: "nonsaturating" (default), "minimax" (the
original saturating G loss), "hinge", "least-squares". One-sided label smoothing applies to the
cross-entropy losses.
"""

from __future__ import annotations

from gankit.errors import UserError
from gankit.losses import LOSSES, d_nonsaturating, decision_threshold, real_term
from gankit.objectives.base import Objective, logit_stats, register


class GANObjective(Objective):
    def __init__(self, loss: str = "nonsaturating", label_smoothing: float = 0.0):
        if loss not in LOSSES or loss == "wasserstein":
            names = ", ".join(n for n in LOSSES if n != "wasserstein")
            raise UserError(f"loss {loss!r} does not fit the gan objective; use one of {names}")
        self.d_fn, self.g_fn = LOSSES[loss]
        self.loss, self.label_smoothing = loss, label_smoothing

    def d_loss(self, D, real, fake, labels, gen):
        real_logits, fake_logits = D(real, labels), D(fake, labels)
        if self.d_fn is d_nonsaturating:
            loss = d_nonsaturating(real_logits, fake_logits, 1.0 - self.label_smoothing)
        else:
            loss = self.d_fn(real_logits, fake_logits)
        return loss, {"d_loss": loss.detach(), **logit_stats(real_logits, fake_logits, self.loss)}

    def g_loss(self, D, fake, labels):
        loss = self.g_fn(D(fake, labels))
        return loss, {"g_loss": loss.detach()}

    def real_loss(self, D, real, labels):
        return real_term(self.loss, D(real, labels), 1.0 - self.label_smoothing)

    def threshold(self, real_scores, fake_scores):
        return decision_threshold(self.loss)


@register("gan", "D and G losses of the logits: nonsaturating, minimax, hinge or least-squares")
def build(cfg) -> GANObjective:
    return GANObjective(cfg.loss, cfg.label_smoothing)
