"""Wasserstein objectives: WGAN with weight clipping (Arjovsky et al. 2017) and WGAN-GP with a
gradient penalty (Gulrajani et al. 2017). The critic's logits are unbounded scores."""

from __future__ import annotations

import torch

from gankit.losses import d_wasserstein, g_wasserstein, gradient_penalty, real_term
from gankit.objectives.base import Objective, register


class WGANObjective(Objective):
    """clip > 0: clamp every critic parameter to [-clip, clip] after each critic step.
    gp_weight > 0: add gp_weight * E[(||grad C(x_hat)|| - 1)^2] to the critic's loss (with pack > 1,
    per pack: one interpolation weight per pack, the norm over the pack's gradient)."""

    def __init__(self, clip: float = 0.0, gp_weight: float = 0.0, pack: int = 1):
        self.clip, self.gp_weight, self.pack = clip, gp_weight, pack

    def d_loss(self, D, real, fake, labels, gen):
        real_s, fake_s = D(real, labels), D(fake, labels)
        loss = d_wasserstein(real_s, fake_s)
        stats = {
            "critic_real": real_s.detach().float().mean(),
            "critic_fake": fake_s.detach().float().mean(),
            "w_distance": -loss.detach(),
        }
        if self.gp_weight > 0:
            eps = torch.rand(len(real) // self.pack, generator=gen, device=gen.device)  # one per pack
            # the penalty's double backward runs in fp32: bf16 gradients of gradients are too coarse
            with torch.autocast(real.device.type, enabled=False):
                gp = gradient_penalty(D, real.float(), fake.float(), labels, eps, self.pack)
            loss = loss + self.gp_weight * gp
            stats["gp"] = gp.detach()
        stats["d_loss"] = loss.detach()
        return loss, stats

    def g_loss(self, D, fake, labels):
        loss = g_wasserstein(D(fake, labels))
        return loss, {"g_loss": loss.detach()}

    def real_loss(self, D, real, labels):
        return real_term("wasserstein", D(real, labels))

    def threshold(self, real_scores, fake_scores):
        """A critic's scores have no fixed threshold: the midpoint of its mean scores."""
        if not len(real_scores) or not len(fake_scores):
            return 0.0
        return float((real_scores.mean() + fake_scores.mean()) / 2)

    def project(self, params):
        if self.clip <= 0:
            return params
        return {k: v.clamp(-self.clip, self.clip) for k, v in params.items()}

    @torch.no_grad()
    def after_d_step(self, D):
        if self.clip > 0:
            for p in D.parameters():
                p.clamp_(-self.clip, self.clip)


@register("wgan", "Wasserstein critic with weight clipping (clip)")
def build_wgan(cfg) -> WGANObjective:
    return WGANObjective(clip=cfg.clip)


@register("wgan-gp", "Wasserstein critic with gradient penalty (gp_weight)")
def build_wgan_gp(cfg) -> WGANObjective:
    return WGANObjective(gp_weight=cfg.gp_weight, pack=cfg.pack)
