"""TrainConfig: every setting of a training run in one typed object, saved in the run folder.

Precedence, lowest first: the dataclass defaults below, the model's own defaults (its registry
entry, with those it keeps for the chosen dataset), the preset (`preset: paper` puts the model's
paper's settings over those defaults; `gankit`, the default, adds nothing), a `--config` file
(YAML or JSON), `--set key=value` overrides, then explicit flags (--preset, --dataset, --epochs,
--minutes, ...). The preset is named by any of the user's sources, and applies below all of them.
Validation turns every mistake into a one-line UserError.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from gankit.bounded import loads_json, loads_yaml, read_text, shown
from gankit.errors import UserError

MAX_CONFIG_BYTES = 2**20  # a config file or config.json; gankit's own are about 2 KiB


@dataclass
class TrainConfig:
    # what to train on what
    model: str = "dcgan"
    preset: str = "gankit"  # gankit (the measured defaults) | paper (the model's paper's settings)
    dataset: str = "digits"
    data_dir: Optional[str] = None  # a folder with the dataset's files (default: search order)
    image_size: Optional[int] = None  # resize images to this side (default: the data's own)
    channels: Optional[int] = None  # 1 or 3 for folder data (default: what the files have)
    # how long
    epochs: Optional[int] = None  # None: enough passes to show D about 300k images, at least 5
    minutes: Optional[float] = None  # stop cleanly after this wall time (a checkpoint is saved)
    max_steps: Optional[int] = None  # stop after this many generator steps
    auto_images: int = 300_000  # with none of the three: epochs enough for D to see about this many images
    seed: int = 0
    # model and objective
    z_dim: int = 100
    width: int = 64  # base channel count of conv models
    depth: int = 0  # conv models: extra stride-1 3x3 conv blocks after each resolution stage of G and D
    clusters: int = 0  # self-conditioning: unconditional G and D train on this many k-means clusters; 0: off
    pack: int = 1  # PacGAN: D judges this many samples at once (batch_size must divide by it)
    unroll: int = 0  # Unrolled GAN (Metz 2017): G's loss through D unrolled this many steps; 0: off
    unroll_grad: bool = True  # gradients through the unrolled steps (the paper's); false: first-order
    unroll_real: bool = True  # G's unrolled loss also takes D's real-batch term through the unrolled D (the paper's f_K)
    mbstd: int = 0  # minibatch standard deviation (Karras 2018): this many std features before D's last layer; 0: off
    mbstd_group: int = 4  # samples per group of the minibatch standard deviation
    mbdisc: int = 0  # minibatch discrimination (Salimans 2016): this many kernels before D's last layer; 0: off
    d_width: Optional[int] = None  # conv D's base channel count (None: width); PacGAN's Table 3 shrinks D
    d_norm: Optional[str] = None  # conv D normalisation: batch | layer | none | spectral (None: the model's)
    objective: str = "gan"  # gan | wgan | wgan-gp
    loss: str = "nonsaturating"  # for the gan objective: nonsaturating | minimax | hinge | least-squares
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - label_smoothing
    clip: float = 0.01  # wgan: critic weights clamped to [-clip, clip]
    gp_weight: float = 10.0  # wgan-gp: gradient penalty weight lambda
    # optimisation (separate rates and step counts for D and G)
    batch_size: int = 64
    optimizer: str = "adam"  # adam | sgd | rmsprop
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    beta1: float = 0.5  # Adam betas
    beta2: float = 0.999
    momentum: float = 0.9  # SGD momentum
    d_steps: int = 1  # discriminator steps per generator step (k in Goodfellow et al.)
    g_steps: int = 1  # generator steps per iteration
    fresh_z: bool = False  # every G step draws new latents (else the first reuses the last D step's fake)
    ema: float = 0.999  # decay of the EMA of G's weights used for sampling; 0 turns it off
    # machine
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 where the hardware has it, fp32 on points) | bf16 | fp32
    threads: Optional[int] = None  # CPU threads (default: PyTorch's choice)
    channels_last: bool = False  # conv models: NHWC memory layout for G, D and the batches
    fused: bool = True  # Adam / SGD: one fused kernel per step instead of a loop over tensors (the MLPs on
    # points train 1.9x the steps per second with it, measured in docs/benchmarks.md); false: the loop
    compile: bool = False  # torch.compile G and D for training (falls back to eager on failure)
    sync_bn: bool = False  # torchrun: batch norm statistics over the global batch (SyncBatchNorm)
    # run folder
    out: Optional[str] = None  # run folder (default: runs/<model>-<dataset>-NNN)
    log_every: int = 50  # steps between metrics.jsonl rows
    checkpoint_every: int = 1000  # steps between checkpoints (also at every epoch end and the end)
    checkpoint_minutes: float = 2.0  # and at least this often, in minutes of training time; 0: by steps only
    tensorboard: bool = False  # also write metrics rows and sample grids as TensorBoard event files in RUN/tensorboard/
    # reliability: old checkpoints and training that goes wrong
    keep: int = 2  # step_NNNNNNNN checkpoints kept besides last (and best); older ones are pruned
    on_divergence: str = "stop"  # stop | rollback | warn: what a diverged run does (see training/divergence.py)
    d_win_steps: int = 1000  # steps of D winning outright that count as divergence; 0: never
    max_rollbacks: int = 3  # on_divergence=rollback gives up after this many rollbacks
    sample_every: int = 0  # epochs between sample grids; 0: every epoch, at most ~50 grids a run
    grid_size: int = 100  # images in each sample grid
    # evaluation during training (gankit/metrics): FID and classes covered, `best` checkpoint
    eval_every: int = 0  # steps between quick evaluations; 0: off
    eval_samples: int = 2000  # samples drawn for each quick evaluation
    # the model's algorithm's own keys (its `Options`, e.g. infogan's lambda_cat), set like the
    # others with --set key=value and kept here, every one filled in, so config.json says them all
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {  # objective and loss: from their registries (see choices())
    "optimizer": ("adam", "sgd", "rmsprop"),
    "precision": ("auto", "bf16", "fp32"),
    "channels": (None, 1, 3),
    "d_norm": (None, "batch", "layer", "none", "spectral"),
    "on_divergence": ("stop", "rollback", "warn"),
    "preset": ("gankit", "paper"),
}
def choices() -> dict[str, tuple]:
    """Every key with a fixed set of values; the objectives and losses as their registries hold them."""
    from gankit.losses import LOSSES
    from gankit.objectives import OBJECTIVES

    return {"objective": tuple(OBJECTIVES.names()), "loss": tuple(LOSSES), **CHOICES}


POSITIVE = ("epochs", "minutes", "max_steps", "auto_images", "z_dim", "width", "batch_size", "lr_d", "lr_g",
            "d_steps", "g_steps", "pack", "mbstd_group", "d_width", "log_every", "checkpoint_every", "grid_size", "image_size", "threads")
FRACTIONS = ("label_smoothing", "ema", "beta1", "beta2", "momentum")  # in [0, 1)
NON_NEGATIVE = ("checkpoint_minutes", "depth", "clusters", "unroll", "mbstd", "mbdisc", "clip", "gp_weight", "sample_every", "seed", "eval_every", "keep", "d_win_steps", "max_rollbacks")


def check_device_name(name: str) -> None:
    """A device name gankit takes (whether this machine has it is gankit.device's question)."""
    if not (name in ("auto", "cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise UserError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")


SEED_MAX = 2**32 - 1  # numpy's seed range; gankit derives other seeds from it (seed * 1_000_003 + epoch)
# the largest value of every count, size and rate, and why: a setting past these is a typo or a
# run that cannot finish, refused before anything is allocated (training/memory.py then checks
# that what is left fits the machine)
UPPER = {
    "epochs": (10**9, "more passes than any run finishes"),
    "minutes": (10**7, "about 19 years"),
    "max_steps": (10**12, "more steps than any run finishes"),
    "auto_images": (10**12, "more images than any run shows D"),
    "z_dim": (4096, "GAN and VAE latents have 2 to 512 numbers"),
    "width": (1024, "the base channel count (DCGAN's is 64); weights grow with its square"),
    "depth": (16, "extra conv blocks per resolution stage; 0 to 2 are used"),
    "clusters": (10_000, "k-means clusters of the training images (200 on MNIST)"),
    "pack": (64, "PacGAN packs 2 to 4 samples"),
    "unroll": (100, "D steps unrolled in G's loss: the paper uses 5 and 10, and each costs a D step and more"),
    "mbstd": (1024, "minibatch-std features (Karras: 1)"),
    "mbstd_group": (65_536, "inputs per minibatch-std group (Karras: 4); at most a batch"),
    "mbdisc": (4096, "minibatch-discrimination kernels (Salimans: 50 to 100)"),
    "d_width": (1024, "D's base channel count; weights grow with its square"),
    "image_size": (512, "gankit's networks are for small images; memory grows with the square of the side"),
    "batch_size": (65_536, "a batch is drawn, held and back-propagated at once"),
    "lr_d": (1000.0, "rates above 1 diverge at once"),
    "lr_g": (1000.0, "rates above 1 diverge at once"),
    "clip": (1000.0, "WGAN clips weights to 0.01"),
    "gp_weight": (10**6, "WGAN-GP uses 10"),
    "d_steps": (1000, "D steps per G step: 1 to 5 in the papers, and every one takes a batch"),
    "g_steps": (1000, "G steps per iteration: 1 or 2, and every one takes a batch"),
    "threads": (1024, "more threads than cores only slows training, and each one takes memory"),
    "log_every": (10**9, "steps between metrics rows"),
    "checkpoint_every": (10**9, "steps between checkpoints"),
    "checkpoint_minutes": (10**7, "about 19 years"),
    "keep": (10_000, "step checkpoints kept on disk"),
    "d_win_steps": (10**9, "steps of D winning outright"),
    "max_rollbacks": (100, "each rollback halves the rates: after 100 they are 2^-100 of the start"),
    "sample_every": (10**9, "epochs between sample grids"),
    "grid_size": (10_000, "a grid is one picture, and 10,000 images is 100 x 100 of them"),
    "eval_every": (10**12, "steps between quick evaluations"),
    "eval_samples": (100_000, "FID's usual 50,000 samples are plenty, and each is drawn and scored"),
    "seed": (SEED_MAX, "the range of seeds gankit's random generators take"),
}

_TYPES = {k: v for k, v in typing.get_type_hints(TrainConfig).items() if k != "options"}
FIELD_NAMES = [f.name for f in fields(TrainConfig) if f.name != "options"]


def option_types(options_cls: Optional[type]) -> dict[str, Any]:
    """An algorithm's Options dataclass -> {key: type}."""
    return typing.get_type_hints(options_cls) if options_cls is not None else {}


def _unknown_key(key: str, where: str, extra: Optional[dict] = None) -> UserError:
    close = difflib.get_close_matches(key, FIELD_NAMES + list(extra or {}), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UserError(f"unknown config key {key!r} in {where}; {hint}see `gankit train --help` "
                     "(and docs/guide.md's model sections for each model's own keys)")


def coerce(key: str, value: Any, where: str, extra: Optional[dict] = None) -> Any:
    """Check `value` against the key's type (ints for floats are fine; "none" clears optionals).
    extra: the types of the model's own keys (its algorithm's Options), beside the shared ones."""
    tp = _TYPES.get(key) or (extra or {}).get(key)
    if tp is None:
        raise _unknown_key(key, where, extra)
    optional = type(None) in typing.get_args(tp)
    base = next((a for a in typing.get_args(tp) if a is not type(None)), tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise UserError(f"config key {key!r} in {where} needs a value")
    if base is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    ok = (
        (base is bool and isinstance(value, bool))
        or (base is int and isinstance(value, int) and not isinstance(value, bool))
        or (base is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (base is str and isinstance(value, (str, int, float)) and not isinstance(value, bool))
    )
    if not ok:
        hint = ""
        if base is int and isinstance(value, (str, float)) and not isinstance(value, bool):
            try:
                number = float(value)
                hint = f" (write {int(number)} as an integer)" if number.is_integer() and abs(number) < 1e30 else ""
            except ValueError:
                pass
        raise UserError(f"config key {key!r} in {where} must be {base.__name__}, got {shown(value)}{hint}")
    if base is float and not math.isfinite(value):  # YAML reads .nan and .inf as floats
        raise UserError(f"config key {key!r} in {where} must be a finite number, got {value!r}")
    if base is float and abs(value) > 1e300:  # an int too large for a float
        raise UserError(f"config key {key!r} in {where} is out of range, got {shown(value)}")
    return base(value)


def parse_set(items: list[str], extra: Optional[dict] = None) -> dict[str, Any]:
    """['lr_d=1e-4', 'ema=0'] -> {'lr_d': 0.0001, 'ema': 0}; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set takes key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        try:
            value = loads_yaml(raw, "--set", "", 4096, max_depth=4) if raw.strip() else None
        except UserError:  # not a YAML scalar: the text itself, checked against the key's type
            value = raw
        if isinstance(value, (dict, list)):
            value = raw
        out[key] = coerce(key, value, "--set", extra)
    return out


def load_file(path: str | Path, extra: Optional[dict] = None) -> dict[str, Any]:
    """A YAML or JSON mapping of config keys; every key checked."""
    p = Path(path)
    what, fix = f"config file {p}", "fix the file"
    text = read_text(p, what, fix, MAX_CONFIG_BYTES)
    data = (loads_json if p.suffix == ".json" else loads_yaml)(text, what, fix, MAX_CONFIG_BYTES)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must hold a mapping of key: value lines")
    return {str(k).replace("-", "_"): coerce(str(k).replace("-", "_"), v, str(p), extra) for k, v in data.items()}


def validate(cfg: TrainConfig) -> TrainConfig:
    """Range and choice checks; returns cfg unchanged or raises a one-line UserError."""
    for key, allowed in choices().items():
        if getattr(cfg, key) not in allowed:
            shown = ", ".join(str(a) for a in allowed if a is not None)
            raise UserError(f"{key} must be one of {shown}, got {getattr(cfg, key)!r}")
    for key in POSITIVE:
        v = getattr(cfg, key)
        if v is not None and v <= 0:
            raise UserError(f"{key} must be positive, got {v}")
    for key in FRACTIONS:
        v = getattr(cfg, key)
        if not 0 <= v < 1:
            raise UserError(f"{key} must be in [0, 1), got {v}")
    for key in NON_NEGATIVE:
        if getattr(cfg, key) < 0:
            raise UserError(f"{key} must be >= 0, got {getattr(cfg, key)}")
    if (cfg.objective == "gan") == (cfg.loss == "wasserstein"):
        raise UserError(
            f"loss {cfg.loss!r} does not fit objective {cfg.objective!r}: the wgan objectives "
            "use the wasserstein loss, the gan objective any other"
        )
    for key in FIELD_NAMES:
        v = getattr(cfg, key)
        if isinstance(v, str) and not _utf8(v):
            raise UserError(f"{key} is not UTF-8 text ({ascii(v)[1:-1][:60]}); gankit writes it into config.json")
    for key, (high, why) in UPPER.items():
        v = getattr(cfg, key)
        if v is not None and v > high:
            raise UserError(f"{key} must be at most {high:,}, got {v:,}: {why}; lower it")
    if cfg.eval_samples < 10:
        raise UserError(f"eval_samples must be at least 10, got {cfg.eval_samples}")
    if cfg.batch_size % cfg.pack:
        raise UserError(f"batch_size ({cfg.batch_size}) must be a multiple of pack ({cfg.pack})")
    check_device_name(cfg.device)
    return cfg


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte that was not UTF-8
        return False
    return True


def build_config(model: str, model_defaults: dict[str, Any], file: Optional[str],
                 sets: list[str], flags: dict[str, Any],
                 dataset_defaults: Optional[dict[str, dict[str, Any]]] = None,
                 options_cls: Optional[type] = None, paper: Optional[dict[str, Any]] = None) -> TrainConfig:
    """Merge, in order: defaults, model defaults (with `dataset_defaults[dataset]` over them, for
    the dataset the user's sources name), the paper's settings `paper` when the user's sources
    name `preset: paper`, config file, --set, explicit flags. Keys of `options_cls` (the
    algorithm's Options dataclass) go to `options`, every one filled in."""
    extra = option_types(options_cls)
    user: dict[str, Any] = load_file(file, extra) if file else {}
    user.update(parse_set(sets, extra))
    user.update({k: coerce(k, v, "the command line", extra) for k, v in flags.items() if v is not None})
    if user.get("model", model) != model:  # the model picks the defaults below, so it comes first
        raise UserError(f"the config names model {user['model']!r}, but this run trains {model!r}; name the "
                        f"model on the command line (gankit train {user['model']} ...) and drop it from the config")
    dataset = str(user.get("dataset") or TrainConfig.dataset)
    preset = user.get("preset", TrainConfig.preset)
    over = dict(paper or {}) if preset == "paper" else {}
    merged: dict[str, Any] = {**model_defaults, **(dataset_defaults or {}).get(dataset, {}), **over, **user}
    merged["model"] = model
    own = {k: merged.pop(k) for k in list(merged) if k in extra}
    merged["options"] = make_options(options_cls, own, "the config") if options_cls else {}
    return validate(TrainConfig(**merged))


def make_options(options_cls: type, given: dict[str, Any], where: str) -> dict[str, Any]:
    """`given` checked against the Options dataclass (types, then its own range checks in
    __post_init__), with its defaults filled in, as a plain dict."""
    types = option_types(options_cls)
    for k in given:
        if k not in types:
            known = ", ".join(types) or "none"
            raise UserError(f"{where} has key {k!r}, which this model does not take (its own keys: {known})")
    checked = {k: coerce(k, v, where, types) for k, v in given.items()}
    return dataclasses.asdict(options_cls(**checked))


def from_dict(d: dict[str, Any], where: str) -> TrainConfig:
    """A saved config (config.json's "config") back into a TrainConfig, every key checked (the
    model's own keys, in "options", are checked against its algorithm when it is built)."""
    if not isinstance(d, dict):
        raise UserError(f"{where} must hold a mapping of config keys; restore it from a copy of the run")
    d = dict(d)
    options = d.pop("options", {})
    if not isinstance(options, dict):
        raise UserError(f"{where}: \"options\" must be a mapping of the model's own keys")
    cfg = TrainConfig(**{str(k): coerce(str(k), v, where) for k, v in d.items()})
    cfg.options = {str(k): v for k, v in options.items()}
    return validate(cfg)
