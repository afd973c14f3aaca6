"""VAE (Kingma and Welling 2014) and a plain autoencoder: a conv encoder "E" and a conv decoder
"G" whose outputs are per-pixel Bernoulli logits. No discriminator, one optimizer, one phase.

Pixels are probabilities in [0, 1], (x + 1) / 2 of the model-range batch. With `binarize` (the
vae's default) every batch is binarized afresh, each pixel 1 with its grey level as probability,
drawn from the run's noise generator so that resume stays exact ("dynamic binarization"): the data
are then binary images, p(x|z) is a proper likelihood and the test log-likelihood compares with
published numbers for binarized MNIST. Without it (the autoencoder's default) the targets are the
grey levels, and the Bernoulli cross-entropy is a reconstruction loss rather than a likelihood.

vae: E(x) = (mean, log-variance) of q(z|x); the loss is -ELBO = E_q[-log p(x|z)] + beta KL(q(z|x)
|| N(0, I)), one reparametrised z per image; samples decode z ~ N(0, I).
autoencoder: E(x) = a code z; the loss is -log p(x|z). It has no prior, so it fits one: moving
averages of the mean and second moment of the training batches' codes (checkpointed as extra
state) give a Gaussian, and its samples decode mean + L eps with eps ~ N(0, I) and L L^T the
covariance. They are as good as that Gaussian describes the codes, which nothing asks it to.

One optimizer over E and G at `lr_g`: the key of the network that generates, reused so that the
config stays one flat set of keys (there is no D, so `lr_d` is unused), and a rollback halves it.
No EMA. The decoder is DCGAN's generator without its Tanh, the encoder DCGAN's discriminator body
with a linear head; outside training their batch norm uses running statistics, so encoding,
decoding and the test scores treat every image on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.algorithms.base import Algorithm, Context, OptimizerSpec, Phase
from gankit.data.base import to_uint8
from gankit.errors import UserError
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.sampling import eval_mode

LOG_2PI = math.log(2 * math.pi)
PRIOR_DECAY = 0.99  # autoencoder: per-batch decay of its code statistics (about the last 100 batches)
EVAL_SEED = 0  # the test binarization, the scored images and the IWAE noise: the same every time
PER_FORWARD = 2048  # latents decoded at once by the IWAE estimate


# --- the terms of the objective, in nats
def bernoulli_log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x | logits) = sum x l - softplus(l) over the last dimension (x in [0, 1]; broadcasts)."""
    return (x * logits - F.softplus(logits)).sum(-1)


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per row: (N, Z) -> (N,)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


@torch.no_grad()
def importance_bounds(E, G, x: Tensor, k: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """log p(x) by importance sampling from q(z|x) (IWAE, Burda et al. 2016), and the ELBO.

    E: images in [-1, 1] -> (N, 2Z) (mean, log-variance); G: z (N, Z) -> logits (N, C, H, W);
    x: (N, C, H, W) images in [0, 1] (binary for a likelihood); k: samples per image, their noise
    drawn from `gen` (on the CPU) image by image. Returns float64 (iwae (N,), elbo (N,)):
    log (1/k) sum_i w_i and (1/k) sum_i log w_i, w_i = p(x|z_i) p(z_i) / q(z_i|x), from the same
    samples, so elbo <= iwae always; iwae's expectation rises to log p(x) as k grows.
    """
    n = len(x)
    mean, logvar = E(x * 2 - 1).float().chunk(2, dim=1)
    std, flat = (0.5 * logvar).exp(), x.flatten(1).float()[:, None]
    per = max(1, PER_FORWARD // n)
    lse = torch.full((n,), -math.inf, dtype=torch.float64, device=x.device)
    total = torch.zeros(n, dtype=torch.float64, device=x.device)
    for start in range(0, k, per):
        m = min(per, k - start)
        eps = torch.randn(n, m, mean.shape[1], generator=gen).to(x.device)
        z = mean[:, None] + std[:, None] * eps
        logits = G(z.reshape(n * m, -1)).float().reshape(n, m, -1)
        log_w = (bernoulli_log_prob(logits, flat) - 0.5 * (z.pow(2) + LOG_2PI).sum(-1)
                 + 0.5 * (eps.pow(2) + logvar[:, None] + LOG_2PI).sum(-1)).double()
        lse = torch.logaddexp(lse, torch.logsumexp(log_w, 1))
        total += log_w.sum(1)
    return lse - math.log(k), total / k


# --- the networks
class ConvEncoder(nn.Module):
    """x (N, C, H, W) in [-1, 1] -> (N, outputs): DCGAN's discriminator body (strided 4x4 convs,
    batch norm, LeakyReLU(0.2)) and a linear head."""

    def __init__(self, shape, width: int, outputs: int, depth: int = 0):
        super().__init__()
        body = DCGANDiscriminator(shape, width, norm="batch", depth=depth)
        self.net = body.net
        self.fc = nn.Linear(body.fc.in_features, outputs)
        nn.init.normal_(self.fc.weight, 0.0, 0.02)  # small: q(z|x) starts near the prior
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.net(x))


def _build(cfg, data, outputs: int):
    if data.kind != "image":
        raise UserError(f"model {cfg.model!r} works on image data, but dataset {data.name!r} is "
                        f"{data.kind}; `gankit models` lists models")
    E = ConvEncoder(data.shape, cfg.width, outputs, cfg.depth)
    G = DCGANGenerator(cfg.z_dim, data.shape, cfg.width, depth=cfg.depth, out="logits")
    return E, G


def build_vae(cfg, data):
    """(E, G): E gives a mean and a log-variance per latent dimension."""
    return _build(cfg, data, 2 * cfg.z_dim)


def build_autoencoder(cfg, data):
    """(E, G): E gives the code itself."""
    return _build(cfg, data, cfg.z_dim)


# --- the algorithms
@dataclass
class AutoencoderOptions:
    """autoencoder's own keys (--set key=value)."""

    binarize: bool = False  # train on a fresh Bernoulli binarization of every batch


@dataclass
class VAEOptions:
    """vae's own keys (--set key=value)."""

    beta: float = 1.0  # weight of the KL term (1: the ELBO; other values: a beta-VAE)
    binarize: bool = True  # train on a fresh Bernoulli binarization of every batch
    iwae_k: int = 100  # gankit eval: importance samples per test image for log p(x)
    iwae_n: int = 1000  # gankit eval: test images log p(x) is estimated on (at most the split)

    def __post_init__(self):
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise UserError(f"beta must be a number >= 0 (1 for the ELBO), got {self.beta}")
        for key in ("iwae_k", "iwae_n"):
            if getattr(self, key) < 1:
                raise UserError(f"{key} must be at least 1, got {getattr(self, key)}")


class _EncoderDecoder(Algorithm):
    """What the two share: networks, the one optimizer and phase, targets, encoding, decoding,
    reconstruction scores and figures."""

    sampler = "G"
    encodes = True

    def __init__(self, cfg, info, spec):
        super().__init__(cfg, info, spec)
        name = cfg.model
        if cfg.clusters:
            raise UserError(f"{name} has no discriminator to self-condition; drop --set clusters")
        for key in ("pack", "unroll", "mbstd", "mbdisc", "d_width"):
            if getattr(cfg, key) and not (key == "pack" and cfg.pack == 1):
                raise UserError(f"{key} is for discriminators and {name} has none; drop --set {key}")
        if cfg.ema > 0:
            raise UserError(f"{name} keeps no EMA of its weights; drop --set ema (its default is 0)")
        E, G = spec.build(cfg, info)
        self.networks = {"E": E, "G": G}

    def optimizers(self):
        return {"main": OptimizerSpec(("E", "G"), "lr_g")}

    def phases(self):
        return [Phase("fit", "main")]

    def target(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Model-range images -> what the pixels are fit to, in [0, 1]: a fresh binarization
        (`binarize`) or the grey levels."""
        p = ((x.float() + 1) * 0.5).clamp(0, 1)
        return torch.bernoulli(p, generator=gen) if self.options.binarize else p

    # --- using the trained networks
    def encode(self, nets, x):
        with eval_mode(nets["E"]):
            return nets["E"](x)[:, :self.cfg.z_dim]  # the vae's first half: the posterior mean

    def decode(self, nets, z):
        """The mean image 2 sigmoid(logits) - 1 in model range."""
        with eval_mode(nets["G"]):
            return torch.sigmoid(nets["G"](z).float()) * 2 - 1

    def generate(self, nets, z, labels=None):
        return self.decode(nets, z)

    @torch.no_grad()
    def scores(self, nets, ref, device):
        """recon_mse on the whole test split, and its protocol (recon_protocol)."""
        if ref.kind != "image":
            return {}
        grey = ref.test_x.float() / 255
        seen = _binarized(grey) if self.options.binarize else grey
        errors = []
        for i in range(0, len(grey), 500):
            x = seen[i:i + 500].to(device) * 2 - 1
            mean = (self.decode(nets, self.encode(nets, x)).cpu() + 1) / 2
            errors.append((mean - grey[i:i + 500]).pow(2).flatten(1).mean(1))
        seen_as = f"a Bernoulli binarization (seed {EVAL_SEED}) of it" if self.options.binarize else "it"
        return {"recon_mse": round(float(torch.cat(errors).mean()), 6),
                "recon_protocol": f"mean squared error per pixel in [0, 1] between each of the {len(grey)} "
                                  f"test images and the decoder's mean image at the code of {seen_as}"}

    def figures(self, nets, x_real, folder: Path):
        """reconstructions.png (rows of real images, each above its reconstructions) and
        interpolations.png (walks between the codes of two real images, the images at both ends)."""
        from gankit.latent import framed_walks
        from gankit.viz import save_grid

        cols = 8
        x = x_real[:4 * cols]
        rec = self.decode(nets, self.encode(nets, x))
        rows = [t for i in range(0, len(x), cols) for t in (x[i:i + cols], rec[i:i + cols])]
        paths = [Path(folder) / "reconstructions.png", Path(folder) / "interpolations.png"]
        save_grid(to_uint8(torch.cat(rows)), paths[0], nrow=cols)
        pairs, steps = min(8, len(x) // 2), 10
        if pairs == 0:
            return paths[:1]
        a, b = x[:pairs], x[pairs:2 * pairs]
        walk = self.interpolate_encoded(nets, a, b, steps, slerp=False)
        save_grid(to_uint8(framed_walks(a, walk, b)), paths[1], nrow=steps + 2)
        return paths

    def describe(self):
        data = "dynamically binarized" if self.options.binarize else "grey-level targets"
        return f"E + G, no D; each iteration: one step of E and G on {self._objective()} (Bernoulli pixels, {data})"

    def _objective(self) -> str:
        raise NotImplementedError


class VAE(_EncoderDecoder):
    Options = VAEOptions

    def loss(self, phase: Phase, r: int, batch, ctx: Context):
        t = self.target(batch["x"], ctx.gen)
        mean, logvar = ctx.nets["E"](t * 2 - 1).float().chunk(2, dim=1)
        eps = torch.randn(mean.shape, generator=ctx.gen, device=mean.device)
        logits = ctx.nets["G"](mean + (0.5 * logvar).exp() * eps)
        recon = -bernoulli_log_prob(logits.float().flatten(1), t.flatten(1)).mean()
        kl = gaussian_kl(mean, logvar).mean()
        loss = recon + self.options.beta * kl
        return loss, {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def scores(self, nets, ref, device):
        """recon_mse, and -log p(x) of test images by IWAE (nll_iwae) and by the ELBO (nll_elbo)."""
        out = super().scores(nets, ref, device)
        if ref.kind != "image":
            return out
        k, binary = self.options.iwae_k, _binarized(ref.test_x.float() / 255)
        n = min(self.options.iwae_n, len(binary))
        idx = torch.randperm(len(binary), generator=torch.Generator().manual_seed(EVAL_SEED))[:n]
        gen = torch.Generator().manual_seed(EVAL_SEED)
        iwae, elbo = [], []
        per = max(1, PER_FORWARD // k)
        with eval_mode(nets["E"], nets["G"]):
            for i in range(0, n, per):
                a, b = importance_bounds(nets["E"], nets["G"], binary[idx[i:i + per]].to(device), k, gen)
                iwae.append(a.cpu())
                elbo.append(b.cpu())
        iwae, elbo = -torch.cat(iwae), -torch.cat(elbo)
        out["nll_iwae"] = round(float(iwae.mean()), 4)
        out["nll_iwae_std"] = round(float(iwae.std() / math.sqrt(n)), 4) if n > 1 else 0.0
        out["nll_elbo"] = round(float(elbo.mean()), 4)
        out["nll_protocol"] = (
            f"-log p(x) in nats per image on {n} test images (chosen with seed {EVAL_SEED}), each pixel "
            f"binarized once by a Bernoulli draw with its grey level as probability (seed {EVAL_SEED}); "
            f"nll_iwae: the IWAE bound with k={k} samples of q(z|x) per image (+- the standard error of "
            "the mean over the images); nll_elbo: -ELBO from the same samples; fp32, batch norm in eval mode")
        return out

    def _objective(self):
        return "-ELBO" if self.options.beta == 1 else f"recon + {self.options.beta:g} KL"


class Autoencoder(_EncoderDecoder):
    Options = AutoencoderOptions

    def __init__(self, cfg, info, spec):
        super().__init__(cfg, info, spec)
        z = cfg.z_dim
        self.moments = {"mean": torch.zeros(z, dtype=torch.float64),
                        "second": torch.zeros(z, z, dtype=torch.float64),
                        "batches": torch.zeros((), dtype=torch.int64)}
        self._prior: tuple[Tensor, Tensor] | None = None  # prior()'s Gaussian for these statistics

    def loss(self, phase: Phase, r: int, batch, ctx: Context):
        t = self.target(batch["x"], ctx.gen)
        z = ctx.nets["E"](t * 2 - 1)
        recon = -bernoulli_log_prob(ctx.nets["G"](z).float().flatten(1), t.flatten(1)).mean()
        self._observe(z.detach())
        return recon, {"loss": recon.detach()}

    def _observe(self, z: Tensor) -> None:
        """Move the code statistics towards this batch's codes z (N, Z)."""
        with torch.no_grad(), torch.autocast(z.device.type, enabled=False):
            z = z.double()
            m = self.moments = {k: v.to(z.device) for k, v in self.moments.items()}
            m["mean"].mul_(PRIOR_DECAY).add_(z.mean(0), alpha=1 - PRIOR_DECAY)
            m["second"].mul_(PRIOR_DECAY).add_(z.T @ z / len(z), alpha=1 - PRIOR_DECAY)
            m["batches"] += 1
        self._prior = None

    def prior(self) -> tuple[Tensor, Tensor]:
        """The Gaussian fitted to the training codes: (mean (Z,), L (Z, Z) with L L^T its
        covariance), float64 on the CPU; N(0, I) before the first batch. Computed once for each
        state of the statistics, so a traced `generate` (`gankit export`) holds it as constants
        instead of an eigendecomposition, which ONNX does not have."""
        if self._prior is None:
            self._prior = self._fit_prior()
        return self._prior

    def _fit_prior(self) -> tuple[Tensor, Tensor]:
        n, z = int(self.moments["batches"]), self.cfg.z_dim
        if n == 0:
            return torch.zeros(z, dtype=torch.float64), torch.eye(z, dtype=torch.float64)
        debias = 1 - PRIOR_DECAY ** n  # the averages start at zero
        mean = self.moments["mean"].cpu() / debias
        cov = self.moments["second"].cpu() / debias - torch.outer(mean, mean)
        values, vectors = torch.linalg.eigh((cov + cov.T) / 2)
        return mean, vectors * values.clamp_min(0).sqrt()

    def generate(self, nets, z, labels=None):
        """z ~ N(0, I) (the sampling latents) -> the decoded code mean + L z."""
        mean, root = self.prior()
        return self.decode(nets, mean.to(z) + z @ root.to(z).T)

    def extra_state(self):
        return {f"code_{k}": v.detach().cpu().clone() for k, v in self.moments.items()}

    def load_extra_state(self, tensors):
        missing = [k for k in self.moments if f"code_{k}" not in tensors]
        if missing:
            raise UserError("the checkpoint lacks the autoencoder's code statistics (extra.code_*); "
                            "it was not written by an autoencoder run")
        self.moments = {k: tensors[f"code_{k}"].clone() for k in self.moments}
        self._prior = None

    def _objective(self):
        return "the reconstruction cross-entropy"


def _binarized(grey: Tensor) -> Tensor:
    """The fixed evaluation binarization of images in [0, 1] (the same on every call)."""
    return torch.bernoulli(grey, generator=torch.Generator().manual_seed(EVAL_SEED))
