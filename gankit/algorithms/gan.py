"""The adversarial game of a generator G and a discriminator D (gan, simplegan, cgan, dcgan,
cdcgan, wgan, wgan-gp, lsgan, hinge): the objective (gankit/objectives) says what the logits mean.

One iteration: `d_steps` D steps, each on a fresh real batch, then `g_steps` G steps with D's
weights frozen. The last D step's fake keeps its graph and the first G step reuses it (same z, one
G forward less) unless `fresh_z` asks for new latents. Labels: the dataset's classes for
conditional models, k-means cluster ids for self-conditioned ones (`clusters`), else none.

`unroll=k` (Unrolled GAN, gankit/algorithms/unrolled.py): each G step scores the fake batch with
a functional copy of D trained k more steps on the last D step's real batch and this fake batch;
with `unroll_real` (the default) G's loss also subtracts that copy's loss on the real batch, so it
is the paper's f(G, D_K) whole: the real term reaches G through the copy's updates.
"""

from __future__ import annotations

import math
import time
from typing import Optional

import torch
from torch import Tensor, nn

from gankit.algorithms.base import Algorithm, Context, OptimizerSpec, Phase
from gankit.errors import UserError
from gankit.models import selfcond
from gankit.objectives import OBJECTIVES


class GAN(Algorithm):
    ema = ("G",)
    sampler = "G"
    has_discriminator = True
    unrollable = True  # G's loss can go through an unrolled D (a D that gives one logit per input)

    def __init__(self, cfg, info, spec):
        super().__init__(cfg, info, spec)
        if info.kind not in spec.kinds:
            raise UserError(f"model {spec.name!r} works on {' or '.join(spec.kinds)} data, "
                            f"but dataset {info.name!r} is {info.kind}; `gankit models` lists models")
        if cfg.pack > 1 and spec.conditional:
            raise UserError(f"pack > 1 works for unconditional models only ({spec.name} is class-"
                            "conditional); drop --set pack")
        if cfg.unroll and not self.unrollable:
            raise UserError(f"unroll works with models whose D gives one score per image (gan, dcgan, "
                            f"wgan, wgan-gp, lsgan, hinge, ...), not {spec.name}; drop --set unroll")
        G, D = spec.build(cfg, info)
        if cfg.clusters:  # the cluster shares and centres are set from the data in prepare()
            G, D = selfcond.wrap(G, D, cfg.clusters, math.prod(info.shape))
        self.networks = {"G": G, "D": D}
        self.conditional = spec.conditional  # labels are the dataset's classes
        self.labelled = spec.conditional or cfg.clusters > 0  # G and D take labels in training
        self.objective = OBJECTIVES.get(cfg.objective).build(cfg)
        self._fake: Optional[Tensor] = None  # the last D step's fake, for the first G step
        self._labels: Optional[Tensor] = None
        self._real: Optional[Tensor] = None  # the last D step's real batch (the unrolled D trains on it)

    # --- training
    def optimizers(self):
        return {"d": OptimizerSpec(("D",), "lr_d"), "g": OptimizerSpec(("G",), "lr_g")}

    def phases(self):
        return [Phase("D", "d", repeat=self.cfg.d_steps),
                Phase("G", "g", repeat=self.cfg.g_steps, batch=False, frozen=("D",))]

    def prepare(self, fields, restored, log=print):
        if not self.cfg.clusters:
            return fields
        G, D = self.networks["G"], self.networks["D"]
        if restored:  # the saved centres decide the clusters, whatever a new k-means would find
            return {**fields, "label": selfcond.assign_all(D, fields["x"])}
        t0 = time.perf_counter()
        ids = selfcond.fit(G, D, fields["x"], self.cfg.clusters, self.cfg.seed)
        log(f"self-conditioning on {self.cfg.clusters} k-means clusters of the training data "
            f"(shares {G.prior.min():.4f} to {G.prior.max():.4f}, {time.perf_counter() - t0:.1f} s)")
        return {**fields, "label": ids}

    def loss(self, phase: Phase, r: int, batch, ctx: Context):
        G, D = ctx.nets["G"], ctx.nets["D"]
        if phase.name == "D":
            real = batch["x"]
            self._labels = batch["label"] if self.labelled else None
            if self.cfg.unroll:
                self._real = real
            keep_graph = r == phase.repeat - 1 and not self.cfg.fresh_z
            with torch.set_grad_enabled(keep_graph):
                self._fake = G(self.latents(len(real), ctx.gen), self._labels)
            return self.d_loss(D, real, self._fake.detach(), self._labels, ctx.gen)
        fake, self._fake = self._fake, None  # the graph is freed once G's step is done with it
        if r > 0 or self.cfg.fresh_z:
            fake = G(self.latents(len(fake), ctx.gen), self._labels)
        if r < phase.repeat - 1:
            self._fake = fake.detach()  # later G steps need only its batch size
        if self.cfg.unroll:
            return self.unrolled_g_loss(fake, ctx)
        return self.g_loss(D, fake, self._labels)

    def unrolled_g_loss(self, fake: Tensor, ctx: Context):
        """G's loss through the unrolled D_K: the objective's G loss of this fake batch, less, with
        unroll_real, D_K's loss on the last real batch (f(G, D_K) holds E log D_K(x) too, and G
        reaches it through D_K's updates; with the minimax loss this is -f(G, D_K) exactly)."""
        D = self.unrolled_d(fake, ctx)
        loss, stats = self.g_loss(D, fake, self._labels)
        if self.cfg.unroll_real:
            loss = loss - self.objective.real_loss(D, self._real, self._labels)
        return loss, stats

    def unrolled_d(self, fake: Tensor, ctx: Context):
        """D as a function of its parameters after `unroll` more steps of its own optimizer on the
        last real batch and this fake batch (through which G's gradient flows, with unroll_grad)."""
        from gankit.algorithms import unrolled

        second_order = self.cfg.unroll_grad
        judged = fake if second_order else fake.detach()  # first-order: the updates hold no graph
        real, labels, gen = self._real, self._labels, ctx.gen

        def d_loss(D):
            return self.d_loss(D, real, judged, labels, gen)[0]
        state = unrolled.unroll(self.networks["D"], d_loss, self.cfg.unroll, ctx.optimizers.get("d"), self.cfg,
                                create_graph=second_order, project=self.objective.project)
        return unrolled.functional(self.networks["D"], state)

    def d_loss(self, D, real, fake, labels, gen):
        """D's loss on a real batch and a detached fake one (the objective's)."""
        return self.objective.d_loss(D, real, fake, labels, gen)

    def g_loss(self, D, fake, labels):
        """G's loss through D (the objective's)."""
        return self.objective.g_loss(D, fake, labels)

    def after_step(self, phase):
        if phase.name == "D":
            self.objective.after_d_step(self.networks["D"])

    # --- sampling
    def interpolate(self, nets, rows, steps, slerp, gen):
        """Walks between random latents. Conditional models: the first half of the rows walk
        between classes (label a -> b at a fixed z, soft one-hot), the rest between latents at a
        fixed class. A self-conditioned G walks from one endpoint's (latent, cluster) to the
        other's, the cluster as a soft one-hot."""
        from gankit.latent import interpolation_latents, lerp, slerp as slerp_fn

        G = nets["G"]
        device = self._device(nets)
        z_dim = self.cfg.z_dim
        z = interpolation_latents(rows, steps, z_dim, gen, slerp).to(device)
        if isinstance(G, selfcond.SelfConditionedG):
            (za, ca), (zb, cb) = G.split(z[::steps]), G.split(z[steps - 1::steps])
            t = torch.linspace(0, 1, steps, device=device)
            path = (slerp_fn if slerp else lerp)(za, zb, t).reshape(rows * steps, z_dim)
            eye = torch.eye(G.num_clusters, device=device)
            soft = lerp(eye[ca], eye[cb], t).reshape(rows * steps, G.num_clusters)
            return G(path, soft)
        if not self.conditional:
            return G(z)
        k = self.info.num_classes
        t = torch.linspace(0, 1, steps)
        labels = []
        for r in range(rows):
            a, b = r % k, (r + 1) % k
            if r < rows // 2:  # class walk at the row's start latent
                z[r * steps:(r + 1) * steps] = z[r * steps]
                labels.append(lerp(torch.eye(k)[a][None], torch.eye(k)[b][None], t)[0])
            else:
                labels.append(torch.eye(k)[a].expand(steps, k))
        return G(z, torch.cat(labels).to(device))

    def d_accuracy(self, nets, real, fake, real_labels, fake_labels):
        from gankit.metrics.discriminator import accuracy

        return accuracy(nets["D"], self.objective.threshold, real, fake,
                        real_labels if self.conditional else None,
                        fake_labels if self.conditional else None, self.cfg.batch_size)

    def describe(self):
        steps = f"{self.cfg.d_steps} D step{'s' * (self.cfg.d_steps > 1)}, " \
                f"{self.cfg.g_steps} G step{'s' * (self.cfg.g_steps > 1)}"
        sc = f", self-conditioned on {self.cfg.clusters} clusters" if self.cfg.clusters else ""
        c = self.cfg
        if c.unroll:
            terms = "D's real-batch term included" if c.unroll_real else "the fake batch's term only"
            sc += f", G's loss through D unrolled {c.unroll} steps ({'second' if c.unroll_grad else 'first'}-order, {terms})"
        if c.pack > 1:
            sc += f", D judges packs of {c.pack}"
        if c.mbstd:
            sc += f", minibatch std over groups of {c.mbstd_group}"
        if c.mbdisc:
            sc += f", minibatch discrimination ({c.mbdisc} kernels)"
        return f"{c.objective} objective, {c.loss} loss, {steps}{sc}"

