"""AC-GAN (Odena, Olah and Shlens 2017): a class-conditional G and a discriminator with two heads
on one body, the source (real or generated) and an auxiliary K-way classifier.

D minimises the adversarial loss plus the cross-entropy of the class head on real images (their
labels) and on generated ones (the labels G was asked for); G minimises its adversarial loss plus
the class head's cross-entropy on its samples, so it learns to draw images D can classify. The
adversarial pair is the `loss` key's (non-saturating by default); G's labels are the real batch's,
so classes are drawn at the data's shares. Everything else (phases, EMA, sampling by label) is the
GAN algorithm's.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.algorithms.gan import GAN
from gankit.errors import UserError
from gankit.losses import LOSSES, d_nonsaturating
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.objectives.base import logit_stats
from gankit.sampling import eval_mode


class AuxClassifierD(nn.Module):
    """A DCGAN discriminator body with two linear heads: x -> (source logit (N,), class logits (N, K))."""

    def __init__(self, shape, width: int, num_classes: int, norm: str, depth: int):
        super().__init__()
        self.body = DCGANDiscriminator(shape, width, num_classes=0, norm=norm, depth=depth)
        self.cls = nn.Linear(self.body.fc.in_features, num_classes)
        nn.init.normal_(self.cls.weight, 0.0, 0.02)
        nn.init.zeros_(self.cls.bias)

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        h = self.body.net(x)
        return self.body.fc(h).squeeze(1), self.cls(h)


class SourceHead(nn.Module):
    """The source head alone, x -> logits (N,): what D-accuracy checks read."""

    def __init__(self, d: AuxClassifierD):
        super().__init__()
        self.d = d

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.d(x)[0]


def build(cfg, data):
    if data.num_classes < 2:
        raise UserError(f"acgan needs class labels, but dataset {data.name!r} has none; use a "
                        "labelled dataset or an unconditional model")
    if cfg.clusters or cfg.pack > 1:
        raise UserError("acgan is already class-conditional; drop --set clusters and --set pack")
    if cfg.mbstd or cfg.mbdisc or cfg.d_width:
        raise UserError("acgan's discriminator takes no mbstd, mbdisc or d_width (they are for the dcgan "
                        "and MLP discriminators); drop them")
    g = DCGANGenerator(cfg.z_dim, data.shape, cfg.width, num_classes=data.num_classes, depth=cfg.depth)
    d = AuxClassifierD(data.shape, cfg.width, data.num_classes, cfg.d_norm or "batch", cfg.depth)
    return g, d


class ACGAN(GAN):
    unrollable = False  # D gives (source, class) logits and G's loss reads both
    def __init__(self, cfg, info, spec):
        if cfg.objective != "gan":
            raise UserError("acgan trains with the gan objective (loss nonsaturating, minimax, hinge "
                            "or least-squares); drop --set objective")
        super().__init__(cfg, info, spec)
        self.d_fn, self.g_fn = LOSSES[cfg.loss]

    def d_loss(self, D, real, fake, labels, gen):
        (src_r, cls_r), (src_f, cls_f) = D(real), D(fake)
        if self.d_fn is d_nonsaturating:
            adv = d_nonsaturating(src_r, src_f, 1.0 - self.cfg.label_smoothing)
        else:
            adv = self.d_fn(src_r, src_f)
        ce_r = F.cross_entropy(cls_r.float(), labels)
        ce_f = F.cross_entropy(cls_f.float(), labels)
        loss = adv + ce_r + ce_f
        return loss, {"d_loss": loss.detach(), "d_class_loss": (ce_r + ce_f).detach() / 2,
                      **logit_stats(src_r, src_f, self.cfg.loss), **_class_acc(cls_r, cls_f, labels)}

    def g_loss(self, D, fake, labels):
        src, cls = D(fake)
        ce = F.cross_entropy(cls.float(), labels)
        loss = self.g_fn(src) + ce
        return loss, {"g_loss": loss.detach(), "g_class_loss": ce.detach()}

    @torch.no_grad()
    def d_accuracy(self, nets, real, fake, real_labels, fake_labels):
        """D's source head on real and generated images, and its class head as a classifier of
        the real test images (its accuracy on their labels)."""
        from gankit.metrics.discriminator import accuracy

        D = nets["D"]
        out = accuracy(SourceHead(D), self.objective.threshold, real, fake, None, None, self.cfg.batch_size)
        if real_labels is not None:
            device = next(D.parameters()).device
            with eval_mode(D):
                pred = torch.cat([D(real[i:i + 500].to(device))[1].argmax(1).cpu()
                                  for i in range(0, len(real), 500)])
            out["d_class_acc"] = round(float((pred == real_labels).double().mean()), 6)
        return out


def _class_acc(cls_r: Tensor, cls_f: Tensor, labels: Tensor) -> dict[str, Tensor]:
    return {"cls_acc_real": (cls_r.detach().argmax(1) == labels).float().mean(),
            "cls_acc_fake": (cls_f.detach().argmax(1) == labels).float().mean()}
