"""What every model family provides, and helpers the families share.

Interfaces (all families):
    G(z, labels=None) -> x     z: (N, z_dim); labels: int64 (N,) or soft one-hot float (N, K);
                               x: (N, C, H, W) in [-1, 1] for images, (N, D) for points.
    D(x, labels=None) -> logits (N,), raw scores, never probabilities.
A family knows shapes, not losses: the objective decides what the logits mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data.base import DataInfo


def one_hot(labels: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """int64 (N,) -> (N, K) one-hot; a float (N, K) input (soft labels, for class
    interpolation) passes through."""
    if labels.dtype.is_floating_point:
        return labels.to(dtype)
    return F.one_hot(labels, num_classes).to(dtype)


def label_embedding(embed: nn.Module, labels: Tensor, pack: int = 1) -> Tensor:
    """A projection discriminator's label embeddings (Miyato and Koyama 2018), one per judged
    input: (N / pack, F), a pack's the mean of its members' (PacGAN with self-conditioning)."""
    e = embed(labels)
    return e.reshape(len(e) // pack, pack, -1).mean(1) if pack > 1 else e


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights for conv/linear layers, N(1, 0.02) for norm scales (Radford et al. 2015)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Dropout(nn.Module):
    """Dropout (Srivastava et al. 2014) with a cheaper mask on a CPU: each element is kept with
    probability 1 - p and scaled by 1 / (1 - p), as torch.nn.Dropout does. torch's CPU dropout
    draws one 32-bit number per element (bernoulli_, about 16 ns an element on 2 cores: a seventh
    of `cgan`'s iteration on MNIST in fp32); here one 64-bit draw of torch's default
    generator gives four 15-bit uniforms, so the keep probability is rounded to a multiple of
    1/32768 and the random stream is the one checkpoints save. Other devices use F.dropout."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), not {p}")
        self.p = p
        self.keep_below = round((1.0 - p) * 32768)  # a 15-bit uniform r keeps its element when r < this

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_()  # uniform on [0, 2^63)
        r = bits.view(torch.int16)[:n].view(x.shape) & 0x7FFF  # each 16-bit quarter's low 15 bits
        return x * (r < self.keep_below).to(x.dtype).mul_(1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


@dataclass
class ModelSpec:
    """A registered model: its algorithm (gankit/algorithms: what is trained and how), how to build
    its networks for a dataset, and the config defaults that make it train well (learning rates,
    objective, steps). `build(cfg, data)` returns what the algorithm asks for ((G, D) for GANs);
    `make(cfg, data)` returns the algorithm with its networks."""

    name: str
    description: str
    build: Callable[[Any, DataInfo], Any]
    algorithm: Any = None  # an Algorithm subclass
    conditional: bool = False
    kinds: tuple[str, ...] = ("image",)
    defaults: dict[str, Any] = field(default_factory=dict)
    # dataset name -> defaults that replace `defaults` there (the settings measured best on it)
    dataset_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    # `--preset paper`: the config keys of the model's paper (over the defaults above), which paper,
    # and where gankit's paper preset still differs from it (what gankit cannot express)
    paper: dict[str, Any] = field(default_factory=dict)
    paper_note: str = ""
    paper_networks: bool = False  # under the paper preset `build` gives the paper's own networks

    def make(self, cfg: Any, data: DataInfo):
        """The algorithm with freshly initialised networks (torch's global RNG draws the weights)."""
        return self.algorithm(cfg, data, self)

    def gankit_defaults(self, dataset: str) -> dict[str, Any]:
        """The model's defaults on `dataset` (its registry defaults, with the dataset's over them)."""
        return {**self.defaults, **self.dataset_defaults.get(dataset, {})}

    def gankit_adds(self, dataset: str) -> dict[str, tuple[Any, Any]]:
        """What gankit's defaults change on top of the paper's settings, on `dataset`:
        {key: (gankit's value, the paper's)} for every key of the paper preset they differ in.
        A key the defaults do not name has its default (TrainConfig's, or the algorithm's Options')."""
        import dataclasses

        from gankit.config import TrainConfig

        ours, base = self.gankit_defaults(dataset), dataclasses.asdict(TrainConfig())
        options = getattr(self.algorithm, "Options", None)
        if options is not None and dataclasses.is_dataclass(options):
            base.update(dataclasses.asdict(options()))
        out = {}
        for key, theirs in self.paper.items():
            mine = ours.get(key, base.get(key))
            if mine != theirs:
                out[key] = (mine, theirs)
        return out

    def preset_lines(self, preset: str, dataset: str) -> list[str]:
        """Which preset a run uses and what gankit's defaults add to the paper's, in words: the
        training banner, log.txt and `gankit models` show these."""
        if not self.paper_note:
            return [f"preset {preset}: {self.name} has no paper of its own; both presets are gankit's defaults"]
        adds = self.gankit_adds(dataset)
        shown = ", ".join(f"{k}={_fmt(a)} (paper {_fmt(b)})" for k, (a, b) in adds.items()) or "nothing"
        if self.paper_networks:
            shown += "; gankit's own networks (the paper's under --preset paper)"
        where = f" on {dataset}" if dataset in self.dataset_defaults else ""
        if preset == "paper":
            return [f"preset paper: {self.paper_note}",
                    f"gankit's defaults (--preset gankit) would add on top of it{where}: {shown}"]
        cite = self.paper_note.split(":")[0]
        return [f"preset gankit: gankit's defaults; on top of the paper's settings ({cite}; --preset paper) "
                f"they add{where}: {shown}"]


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, "Progressive growing of GANs"): D sees
    how much the samples of a small group differ, so a generator that repeats itself is easy to
    spot. The batch is split into groups of `group` samples (sample i in group i mod N/group, as
    the paper strides them); for each group, the standard deviation of every feature over the
    group's samples, averaged over the features (and positions), gives one number, appended to
    each of the group's samples as an extra feature map (N, C, H, W) -> (N, C + channels, H, W),
    or an extra feature (N, F) -> (N, F + channels). With channels > 1 the features are split
    into that many parts, each giving its own number.

    A batch whose size `group` does not divide uses the largest group size below it that does
    (a last short batch during evaluation), down to 1 (then the feature is 0)."""

    def __init__(self, group: int = 4, channels: int = 1):
        super().__init__()
        self.group, self.channels = group, channels

    def forward(self, x: Tensor) -> Tensor:
        n, rest = x.shape[0], x.shape[1:]
        g = min(self.group, n)
        while n % g:
            g -= 1
        c = self.channels
        # (g, M, c, features per part): the groups' members along dim 0
        y = x.reshape(g, n // g, c, -1).float()
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=2)  # (M, c)
        std = std.repeat(g, 1).to(x.dtype)  # row i is group i mod M's
        if len(rest) == 3:
            extra = std[:, :, None, None].expand(n, c, rest[1], rest[2])
        else:
            extra = std
        return torch.cat([x, extra], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs"):
    features f (N, A) -> [f, o] (N, A + kernels). Each sample's features are projected by a learnt
    tensor T to `kernels` rows of `dim` numbers, M_i (kernels, dim); for every kernel b,
    o_b(x_i) = sum over the other samples j of exp(-||M_i,b - M_j,b||_1): how many samples of the
    batch lie close to x_i in that projection. A generator that repeats itself gets large o."""

    def __init__(self, features: int, kernels: int, dim: int = 5):
        super().__init__()
        self.kernels, self.dim = kernels, dim
        self.T = nn.Parameter(torch.randn(features, kernels * dim) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        m = (x @ self.T.to(x.dtype)).view(x.shape[0], self.kernels, self.dim).float().transpose(0, 1)
        dist = torch.cdist(m, m, p=1)  # (kernels, N, N) L1 distances
        o = (torch.exp(-dist).sum(2) - 1.0).transpose(0, 1)  # without each sample's own term, exp(0) = 1
        return torch.cat([x, o.to(x.dtype)], dim=1)


def minibatch_layers(width: int, mbstd: int, mbstd_group: int, mbdisc: int) -> tuple[list[nn.Module], int]:
    """The minibatch-statistics layers of a flat discriminator before its last layer (the minibatch
    std, then minibatch discrimination, each where asked for), and the width they leave."""
    layers: list[nn.Module] = []
    if mbstd:
        layers.append(MinibatchStd(mbstd_group, mbstd))
        width += mbstd
    if mbdisc:
        layers.append(MinibatchDiscrimination(width, mbdisc))
        width += mbdisc
    return layers, width
