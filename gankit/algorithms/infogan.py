"""InfoGAN (Chen et al. 2016): a GAN whose generator also takes latent codes, and an auxiliary
head Q that reads the codes back from the generated image. Maximising a lower bound on the mutual
information between codes and images makes the codes mean something (on MNIST the categorical
code becomes the digit, the continuous ones its slant and width) without any label.

Latents are [noise (z_dim) | one-hot categorical code (categories) | continuous codes
(continuous), each uniform on [-1, 1]]. D's body is shared: D returns (source logit, features),
and Q maps those features to the categorical logits and the continuous codes' means. One
iteration: `d_steps` D steps (the adversarial loss only), then the G step, whose optimizer holds G
and Q: G's adversarial loss plus lambda_cat * the categorical cross-entropy plus lambda_cont * the
continuous codes' squared error (a Gaussian of fixed variance), with D's body frozen: Q trains
through G's step, D's body through D's own.

The unsupervised accuracy of the categorical code (`gankit eval`): Q's most likely code for each
test image, the codes matched one-to-one to the dataset's classes by the Hungarian algorithm.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.algorithms.acgan import SourceHead
from gankit.algorithms.base import OptimizerSpec, Phase
from gankit.algorithms.gan import GAN
from gankit.errors import UserError
from gankit.losses import LOSSES, d_nonsaturating
from gankit.models.base import init_dcgan_weights
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.objectives.base import logit_stats
from gankit.sampling import eval_mode


@dataclass
class InfoOptions:
    categories: int = 10  # values of the categorical code (0: none)
    continuous: int = 2  # continuous codes, each uniform on [-1, 1]
    lambda_cat: float = 1.0  # weight of the categorical code's information term
    lambda_cont: float = 0.3  # weight of the continuous codes' term (the paper's 0.1 lets them learn little beside code_augment)
    q_step: str = "g"  # which step trains Q: "g" (with G, D's body frozen) or "d" (with D, its body too)
    code_augment: float = 1.0  # strength of the random affine warps the categorical code must survive (0: off, as in the paper)

    def __post_init__(self):
        if self.q_step not in ("g", "d"):
            raise UserError(f"q_step must be g or d, got {self.q_step!r}")
        if not 0 <= self.categories <= 1000 or self.categories == 1:
            raise UserError(f"categories must be 0 (none) or 2..1000, got {self.categories}")
        if not 0 <= self.continuous <= 100:
            raise UserError(f"continuous must be in 0..100, got {self.continuous}")
        if self.categories == 0 and self.continuous == 0:
            raise UserError("infogan needs at least one code: set categories or continuous above 0")
        if not 0 <= self.code_augment <= 2:
            raise UserError(f"code_augment must be in [0, 2] (1: up to 15 degrees, 10% zoom, 2 pixels in 28), "
                            f"got {self.code_augment}")
        for key in ("lambda_cat", "lambda_cont"):
            if not 0 <= getattr(self, key) <= 1000:
                raise UserError(f"{key} must be in [0, 1000], got {getattr(self, key)}")


class InfoD(nn.Module):
    """The paper's MNIST discriminator: DCGAN convolutions, then a 1024-wide layer whose output is
    the body's features. x -> (source logit (N,), features (N, 1024))."""

    def __init__(self, shape, width: int, norm: str, depth: int, hidden: int = 1024):
        super().__init__()
        convs = DCGANDiscriminator(shape, width, norm=norm, depth=depth)
        self.convs = convs.net
        self.fc = nn.Sequential(nn.Linear(convs.fc.in_features, hidden, bias=False),
                                nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, inplace=True))
        self.src = nn.Linear(hidden, 1)
        init_dcgan_weights(self)

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        h = self.fc(self.convs(x))
        return self.src(h).squeeze(1), h


class InfoG(nn.Module):
    """The paper's MNIST generator: a 1024-wide layer on the latents, then a DCGAN generator.
    z (N, z_dim + codes) -> (N, C, H, W) in [-1, 1]."""

    def __init__(self, z_dim: int, shape, width: int, depth: int, hidden: int = 1024):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(z_dim, hidden, bias=False), nn.BatchNorm1d(hidden),
                                nn.ReLU(inplace=True))
        self.convs = DCGANGenerator(hidden, shape, width, depth=depth)
        init_dcgan_weights(self.fc)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.convs(self.fc(z))


class QHead(nn.Module):
    """D's features -> (categorical logits (N, K), continuous means (N, M))."""

    def __init__(self, features: int, categories: int, continuous: int, hidden: int = 128):
        super().__init__()
        self.k = categories
        self.net = nn.Sequential(nn.Linear(features, hidden, bias=False), nn.BatchNorm1d(hidden),
                                 nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden, categories + continuous))
        init_dcgan_weights(self)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(h)
        return out[:, :self.k], out[:, self.k:]


def random_affine(x: Tensor, strength: float, gen: torch.Generator) -> Tensor:
    """Each image warped by its own small random rotation (up to 15 degrees x strength), zoom (up to
    10% x strength) and shift (up to 2/28 of the side x strength), differentiably (bilinear, zeros
    outside), with the parameters drawn from `gen`. A digit stays the same digit under these warps,
    while its slant and size change: asking Q to read the categorical code back from a warped copy
    makes the code carry what the warps keep (Ojha et al. 2020, Elastic-InfoGAN)."""
    n = len(x)
    u = torch.rand(n, 4, generator=gen, device=gen.device).to(x.device) * 2 - 1
    angle = u[:, 0] * strength * torch.pi / 12
    scale = 1 + u[:, 1] * strength * 0.1
    shift = u[:, 2:] * strength * (4 / 28)  # affine_grid's coordinates span 2 per side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # shifted so that what comes in from outside the frame is -1, the model range's black
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def build(cfg, data):
    if data.kind != "image":
        raise UserError(f"infogan draws images, but dataset {data.name!r} is {data.kind}")
    if cfg.clusters:
        raise UserError("infogan learns its own codes; drop --set clusters")
    if cfg.pack > 1:
        raise UserError("pack does not work with infogan: Q reads each image's codes from D's features, "
                        "which a packed D mixes; drop --set pack")
    if cfg.mbstd or cfg.mbdisc or cfg.d_width:
        raise UserError("infogan's discriminator takes no mbstd, mbdisc or d_width (they are for the dcgan "
                        "and MLP discriminators); drop them")
    o = InfoGAN.Options(**cfg.options)
    g = InfoG(cfg.z_dim + o.categories + o.continuous, data.shape, cfg.width, cfg.depth)
    return g, InfoD(data.shape, cfg.width, cfg.d_norm or "batch", cfg.depth)


class InfoGAN(GAN):
    Options = InfoOptions
    unrollable = False  # D gives (logit, features) and Q trains through G's step

    def __init__(self, cfg, info, spec):
        if cfg.objective != "gan":
            raise UserError("infogan trains with the gan objective (loss nonsaturating, minimax, hinge "
                            "or least-squares); drop --set objective")
        super().__init__(cfg, info, spec)
        o = self.options
        self.k, self.m = o.categories, o.continuous
        self.networks["Q"] = QHead(self.networks["D"].src.in_features, self.k, self.m)
        self.d_fn, self.g_fn = LOSSES[cfg.loss]
        self._z: Optional[Tensor] = None  # the latents of the last D step's fake

    def optimizers(self):
        if self.options.q_step == "d":
            return {"d": OptimizerSpec(("D", "Q"), "lr_d"), "g": OptimizerSpec(("G",), "lr_g")}
        return {"d": OptimizerSpec(("D",), "lr_d"), "g": OptimizerSpec(("G", "Q"), "lr_g")}

    def phases(self):
        frozen = ("D", "Q") if self.options.q_step == "d" else ("D",)
        return [Phase("D", "d", repeat=self.cfg.d_steps),
                Phase("G", "g", repeat=self.cfg.g_steps, batch=False, frozen=frozen)]

    # --- latents: [noise | one-hot code | continuous codes]
    def latents(self, n: int, gen: torch.Generator) -> Tensor:
        noise = torch.randn(n, self.cfg.z_dim, generator=gen, device=gen.device)
        cat = torch.randint(0, max(self.k, 1), (n,), generator=gen, device=gen.device)
        cont = torch.rand(n, self.m, generator=gen, device=gen.device) * 2 - 1
        return self._join(noise, cat, cont)

    def latent_parts(self) -> list[dict]:
        """Named as `with_codes` (and `gankit sample --code`) names them."""
        parts = [{"name": "noise", "size": self.cfg.z_dim, "draw": "standard normal"}]
        if self.k:
            parts.append({"name": "cat", "size": self.k,
                          "draw": f"one-hot of a category drawn uniformly from 0..{self.k - 1}"})
        parts += [{"name": f"c{j + 1}", "size": 1, "draw": "uniform on [-1, 1]"} for j in range(self.m)]
        return parts

    def _join(self, noise: Tensor, cat: Tensor, cont: Tensor) -> Tensor:
        onehot = F.one_hot(cat, self.k).to(noise.dtype) if self.k else noise[:, :0]
        return torch.cat([noise, onehot, cont.to(noise.dtype)], dim=1)

    def _split(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """latents -> (noise, one-hot or soft code (N, K), continuous (N, M))."""
        d = self.cfg.z_dim
        return z[:, :d], z[:, d:d + self.k], z[:, d + self.k:]

    def codes_of(self, z: Tensor) -> Optional[Tensor]:
        return self._split(z)[1].argmax(1).to(torch.int64) if self.k else None

    def with_codes(self, z: Tensor, codes: dict[str, float]) -> Tensor:
        names = (["cat"] if self.k else []) + [f"c{j + 1}" for j in range(self.m)]
        z = z.clone()
        d = self.cfg.z_dim
        for name, value in codes.items():
            if name not in names:
                raise UserError(f"unknown code {name!r}; this model's codes are {', '.join(names)}")
            if name == "cat":
                if value != int(value) or not 0 <= value < self.k:
                    raise UserError(f"cat must be a whole number in 0..{self.k - 1}, got {value:g}")
                z[:, d:d + self.k] = 0
                z[:, d + int(value)] = 1
            else:
                if not -10 <= value <= 10:
                    raise UserError(f"{name} must be in [-10, 10] (training draws it from [-1, 1]), got {value:g}")
                z[:, d + self.k + int(name[1:]) - 1] = value
        return z

    def grid_latents(self, n: int, gen: torch.Generator) -> Tensor:
        """Row r shows categorical value r mod K; each column keeps its noise and continuous codes
        across the rows, so a column reads as one style in every category."""
        if not self.k:
            return self.latents(n, gen)
        cols = max(1, n // self.k) if n >= self.k else n
        base = self.latents(cols, gen)
        z = base.repeat((n + cols - 1) // cols, 1)[:n]
        cat = (torch.arange(n, device=z.device) // cols) % self.k
        noise, _, cont = self._split(z)
        return self._join(noise, cat, cont)

    # --- training
    def loss(self, phase: Phase, r: int, batch, ctx):
        G, D, Q = ctx.nets["G"], ctx.nets["D"], ctx.nets["Q"]
        if phase.name == "D":
            real = batch["x"]
            keep_graph = r == phase.repeat - 1 and not self.cfg.fresh_z
            z = self.latents(len(real), ctx.gen)
            with torch.set_grad_enabled(keep_graph):
                self._fake = G(z)
            self._z = z
            src_r, _ = D(real)
            src_f, h_f = D(self._fake.detach())
            if self.d_fn is d_nonsaturating:
                loss = d_nonsaturating(src_r, src_f, 1.0 - self.cfg.label_smoothing)
            else:
                loss = self.d_fn(src_r, src_f)
            stats = {"d_loss": loss.detach(), **logit_stats(src_r, src_f, self.cfg.loss)}
            if self.options.q_step == "d":  # Q and D's body learn to read the codes here
                info, info_stats = self._information(Q, h_f, z)
                loss = loss + info
                stats.update(info_stats)
            return loss, stats
        fake, z = self._fake, self._z
        self._fake = None
        if r > 0 or self.cfg.fresh_z:
            z = self.latents(len(z), ctx.gen)
            fake = G(z)
        if r < phase.repeat - 1:
            self._fake = fake.detach()
        src, h = D(fake)
        adv = self.g_fn(src)
        info, stats = self._information(Q, h, z)
        if self.k and self.options.code_augment:
            warped = random_affine(fake, self.options.code_augment, ctx.gen)
            ce = F.cross_entropy(Q(D(warped)[1])[0].float(), self._split(z)[1].argmax(1))
            info = info + self.options.lambda_cat * ce
            stats["info_warp_loss"] = ce.detach()
        return adv + info, {"g_loss": adv.detach(), **stats}

    def _information(self, Q, h: Tensor, z: Tensor) -> tuple[Tensor, dict]:
        """The weighted information terms: the categorical code's cross-entropy and the continuous
        codes' squared error (the negative log-likelihood of a unit Gaussian, up to a constant)."""
        cat_logits, cont_mean = Q(h)
        _, cat, cont = self._split(z)
        loss, stats = 0.0, {}
        if self.k:
            target = cat.argmax(1)
            ce = F.cross_entropy(cat_logits.float(), target)
            loss = loss + self.options.lambda_cat * ce
            stats["info_cat_loss"] = ce.detach()
            stats["info_cat_acc"] = (cat_logits.detach().argmax(1) == target).float().mean()
        if self.m:
            mse = 0.5 * (cont_mean.float() - cont.float()).pow(2).sum(1).mean()
            loss = loss + self.options.lambda_cont * mse
            stats["info_cont_loss"] = mse.detach()
        return loss, stats

    # --- sampling and interpolation
    def interpolate(self, nets, rows, steps, slerp, gen):
        """Each row walks between two random latents: the noise along a line (or great circle),
        the categorical code as a soft one-hot, the continuous codes along a line."""
        from gankit.latent import lerp, slerp as slerp_fn

        a, b = self.latents(rows, gen), self.latents(rows, gen)
        t = torch.linspace(0, 1, steps)
        (na, ca, ka), (nb, cb, kb) = self._split(a), self._split(b)
        noise = (slerp_fn if slerp else lerp)(na, nb, t)
        codes = lerp(torch.cat([ca, ka], 1), torch.cat([cb, kb], 1), t)
        z = torch.cat([noise, codes], 2).reshape(rows * steps, -1)
        return self.generate(nets, z.to(self._device(nets)))

    def figures(self, nets, x_real, folder: Path) -> list[Path]:
        """One traversal grid per continuous code: a row per categorical value (noise fixed per
        row), the code swept from -1 to 1 across the columns, the other codes at 0."""
        from gankit.data.base import to_uint8
        from gankit.viz import save_grid

        paths = []
        rows, cols = max(self.k, 1), 10
        gen = torch.Generator().manual_seed(self.cfg.seed + 6151)
        noise = torch.randn(rows, self.cfg.z_dim, generator=gen).repeat_interleave(cols, 0)
        cat = torch.arange(rows).repeat_interleave(cols) if self.k else torch.zeros(0, dtype=torch.int64)
        sweep = torch.linspace(-1, 1, cols).repeat(rows)
        for j in range(self.m):
            cont = torch.zeros(rows * cols, self.m)
            cont[:, j] = sweep
            z = self._join(noise, cat, cont) if self.k else torch.cat([noise, cont], 1)
            x = self.generate(nets, z.to(self._device(nets))).float().cpu()
            path = Path(folder) / f"traversal_c{j + 1}.png"
            save_grid(to_uint8(x), path, nrow=cols)
            paths.append(path)
        return paths

    # --- evaluation
    def d_accuracy(self, nets, real, fake, real_labels, fake_labels):
        from gankit.metrics.discriminator import accuracy

        return accuracy(SourceHead(nets["D"]), self.objective.threshold, real, fake, None, None,
                        self.cfg.batch_size)

    @torch.no_grad()
    def predict_codes(self, nets, x: Tensor, batch_size: int = 500) -> Tensor:
        """Q's most likely categorical code for model-range images x, int64 (N,). D's body runs as
        in training (batch statistics, batches of `batch_size` real images), on a copy, so its
        running statistics stay as trained."""
        D, Q = copy.deepcopy(nets["D"]).train(), nets["Q"]
        device = next(D.parameters()).device
        with eval_mode(Q):
            out = [Q(D(x[i:i + batch_size].to(device))[1])[0].argmax(1).cpu()
                   for i in range(0, len(x), batch_size)]
        return torch.cat(out)

    def scores(self, nets, ref, device):
        if not self.k or ref.test_labels is None or ref.kind != "image":
            return {}
        from gankit.data.base import to_model_range
        from gankit.metrics.modes import matched_accuracy

        pred = self.predict_codes(nets, to_model_range(ref.test_x))
        hungarian, majority = matched_accuracy(pred, ref.test_labels, self.k, ref.num_classes)
        return {"code_accuracy": round(hungarian, 6), "code_accuracy_majority": round(majority, 6),
                "code_accuracy_protocol": f"Q's most likely categorical code for each of the "
                f"{len(pred)} test images; codes matched one-to-one to classes by the Hungarian "
                "algorithm (code_accuracy) or each code to its most frequent class (majority)"}
