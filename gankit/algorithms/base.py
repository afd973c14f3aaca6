"""What an algorithm is: the networks and optimizers of one kind of generative model, the phases
of one training iteration, and how the trained networks sample.

The run manager (gankit/training/loop.py) knows nothing else about a model. It builds the
optimizers an algorithm declares, and for every phase of an iteration it draws a batch (when the
phase takes one), calls `loss`, and does zero_grad / backward / step on the phase's optimizer. It
keeps an EMA copy of the networks named in `ema`, checkpoints every network, optimizer and the
algorithm's `extra_state` under their names, and wraps the networks that train for torchrun.

An algorithm, in turn, knows nothing about budgets, run folders, checkpoints, ranks or precision:
it is handed the callables to run (`Context.nets`, compiled or DDP-wrapped where asked) and the
run's noise generator (`Context.gen`, whose state the checkpoint keeps).

Adding a model: one file with an Algorithm subclass (or a network builder for an existing one) and
a registry line in gankit/algorithms/registry.py; docs/architecture.md walks through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from gankit.data.base import DataInfo
from gankit.errors import UserError

Batch = dict[str, Tensor]  # named fields of one batch: "x" (model range), "label", ...
Stats = dict[str, Tensor]  # detached scalars, averaged into metrics.jsonl


@dataclass(frozen=True)
class Phase:
    """One kind of update within an iteration.

    optimizer: the name (in `Algorithm.optimizers`) that steps after this phase's backward.
    repeat: how many times per iteration (k discriminator steps); each takes a fresh batch.
    every: run only on iterations whose step counter is a multiple of this (lazy regularizers).
    batch: whether the phase takes a batch of training data.
    frozen: networks whose weights must get no gradient here although the loss runs through them
        (the discriminator during the generator's step).
    """

    name: str
    optimizer: str
    repeat: int = 1
    every: int = 1
    batch: bool = True
    frozen: tuple[str, ...] = ()


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer over the parameters of `networks` (in that order), at the learning rate in the
    config key `lr_key` (a rollback halves it there, so config.json says what is in force)."""

    networks: tuple[str, ...]
    lr_key: str


@dataclass
class Context:
    """What a phase's loss is handed: the callables to run each network through (they share the
    networks' parameters), the run's noise generator, and the run's optimizers by name, to read
    (the Unrolled GAN starts its functional copy of D from D's optimizer state); stepping them is
    the run manager's."""

    nets: dict[str, Callable[..., Tensor]]
    gen: torch.Generator
    device: torch.device
    optimizers: dict[str, Any] = field(default_factory=dict)


@dataclass
class NoOptions:
    """An algorithm without keys of its own."""


class Algorithm:
    """Base class; see the module docstring. Subclasses set `networks` in __init__."""

    # The algorithm's own config keys: a dataclass of typed fields with defaults, whose
    # __post_init__ raises a one-line UserError for a bad value. Users set them like any key
    # (--set key=value); the run's config keeps them in `options`; `self.options` holds them.
    Options: type = NoOptions

    ema: tuple[str, ...] = ()  # networks that get an EMA copy, used for all sampling
    sampler: Optional[str] = None  # the network that generates (None: this algorithm cannot sample)
    conditional: bool = False  # generate() takes class labels of the dataset
    has_discriminator: bool = False  # eval reports D's accuracy on real and generated data
    encodes: bool = False  # encode() and decode() work (autoencoders)
    keeps_best: bool = True  # evaluations keep `best`, the lowest-FID checkpoint, which commands then use

    def __init__(self, cfg: Any, info: DataInfo, spec: Any = None):
        """cfg: the run's TrainConfig; info: its data's shape and classes; spec: the model's
        registry entry (gankit.models.base.ModelSpec), which builds the networks."""
        from gankit.config import make_options

        self.cfg, self.info, self.spec = cfg, info, spec
        self.options = self.Options(**make_options(self.Options, cfg.options, f"model {cfg.model}'s config"))
        self.networks: dict[str, nn.Module] = {}

    # --- training
    def optimizers(self) -> dict[str, OptimizerSpec]:
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def check_data(self, fields: dict[str, Tensor]) -> None:
        """Refuse training data this algorithm cannot use (a one-line UserError): the checks of
        `prepare` that need the data itself, cheap ones. `gankit train` calls it before the run
        folder exists (prepare runs later, in the run manager). fields: as prepare gets them."""

    def prepare(self, fields: dict[str, Tensor], restored: bool,
                log: Callable[[str], None] = print) -> dict[str, Tensor]:
        """Data-dependent set-up before training; returns the fields batches are drawn from.
        restored: the networks hold a checkpoint's state (then reuse what it saved)."""
        return fields

    def loss(self, phase: Phase, r: int, batch: Optional[Batch], ctx: Context) -> tuple[Tensor, Stats]:
        """Forward and loss of repeat `r` of `phase`; the run manager does the rest."""
        raise NotImplementedError

    def after_step(self, phase: Phase) -> None:
        """Called after the phase's optimizer step (WGAN clips the critic's weights here)."""

    def batches_per_iteration(self) -> int:
        """Training batches one iteration draws (for epochs and images/s)."""
        return sum(p.repeat for p in self.phases() if p.batch and p.every == 1)

    # --- extra state that checkpoints keep (image pools, growth alpha, ...)
    def extra_state(self) -> dict[str, Tensor]:
        return {}

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        pass

    # --- using the trained networks (nets: the sampling weights, EMA where kept)
    def latents(self, n: int, gen: torch.Generator) -> Tensor:
        """n standard-normal latents, drawn from `gen` on its device."""
        return torch.randn(n, self.cfg.z_dim, generator=gen, device=gen.device)

    def generate(self, nets: dict[str, nn.Module], z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Model-range samples for latents z (and labels, for conditional algorithms)."""
        return nets[self.sampler](z, labels)

    def interpolate(self, nets: dict[str, nn.Module], rows: int, steps: int, slerp: bool,
                    gen: torch.Generator) -> Tensor:
        """(rows * steps, ...) samples, each row a walk between two points of the latent space."""
        from gankit.latent import interpolation_latents

        z = interpolation_latents(rows, steps, self.cfg.z_dim, gen, slerp)
        return self.generate(nets, z.to(self._device(nets)))

    def latent_parts(self) -> list[dict]:
        """What a row of `latents` holds, part by part in order: each part's name, size and how it
        is drawn. `gankit export` writes it beside the exported generator for users outside gankit."""
        return [{"name": "noise", "size": self.cfg.z_dim, "draw": "standard normal"}]

    def grid_latents(self, n: int, gen: torch.Generator) -> Tensor:
        """The latents of the sample grids saved during training (InfoGAN: a row per code value)."""
        return self.latents(n, gen)

    # --- latent codes (InfoGAN); a model without them refuses
    def codes_of(self, z: Tensor) -> Optional[Tensor]:
        """The categorical code (int64 (N,)) that latents z carry, or None: `gankit sample`
        writes it to the samples file as `codes`."""
        return None

    def with_codes(self, z: Tensor, codes: dict[str, float]) -> Tensor:
        """Latents z with the named codes set (`gankit sample --code cat=3,c1=0.5`)."""
        raise UserError(f"model {self.cfg.model} has no latent codes; drop --code")

    # --- encoders (autoencoders and VAEs)
    def encode(self, nets: dict[str, nn.Module], x: Tensor) -> Tensor:
        """Model-range images (N, C, H, W) -> latents (N, z_dim) (a VAE: the posterior mean)."""
        raise UserError(f"model {self.cfg.model} has no encoder; encode works for vae and autoencoder")

    def decode(self, nets: dict[str, nn.Module], z: Tensor) -> Tensor:
        """Latents -> model-range images."""
        return self.generate(nets, z)

    def interpolate_encoded(self, nets: dict[str, nn.Module], a: Tensor, b: Tensor, steps: int,
                            slerp: bool) -> Tensor:
        """(N * steps, C, H, W): for each pair of model-range images a[i], b[i] (N each), `steps`
        decoded codes on the line (or great circle) from encode(a[i]) to encode(b[i]), ends included."""
        from gankit.latent import lerp, slerp as slerp_fn

        za, zb = self.encode(nets, a), self.encode(nets, b)
        t = torch.linspace(0, 1, steps, device=za.device)
        path = (slerp_fn if slerp else lerp)(za, zb, t)
        return self.decode(nets, path.reshape(len(a) * steps, -1))

    # --- a discriminator that classifies (ssgan)
    def classify(self, nets: dict[str, nn.Module], x: Tensor) -> Tensor:
        """Class logits float (N, K) on the CPU for model-range images x (N, C, H, W)."""
        raise UserError(f"model {self.cfg.model} has no classifier; ssgan's D is one")

    # --- evaluation and figures of the algorithm's own
    def scores(self, nets: dict[str, nn.Module], ref: Any, device: torch.device) -> dict:
        """Scores only this algorithm has, on the test split `ref` (a metrics.evaluate.Reference):
        InfoGAN's code accuracy, a VAE's test log-likelihood. Added to `gankit eval`'s table."""
        return {}

    def quick_scores(self, nets: dict[str, nn.Module], ref: Any, device: torch.device) -> dict:
        """The scores of `scores` cheap enough to log at every --eval-every (numbers only; ssgan:
        D's test accuracy); none by default."""
        return {}

    def figures(self, nets: dict[str, nn.Module], x_real: Tensor, folder: Path) -> list[Path]:
        """Pictures written at the end of training besides the sample grids (traversals,
        reconstructions); x_real: some model-range training images. Returns the paths written."""
        return []

    def d_accuracy(self, nets: dict[str, nn.Module], real: Tensor, fake: Tensor,
                   real_labels: Optional[Tensor], fake_labels: Optional[Tensor]) -> Optional[dict]:
        """D's accuracy on real and generated images, where there is a D."""
        return None

    def describe(self) -> str:
        """A few words for the training banner: which networks, which phases."""
        phases = ", ".join(f"{p.repeat} x {p.name}" if p.repeat > 1 else p.name for p in self.phases())
        return f"{' + '.join(self.networks)}; each iteration: {phases}"

    def _device(self, nets: dict[str, nn.Module]) -> torch.device:
        return next(nets[self.sampler].parameters()).device
