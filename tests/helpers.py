"""Tiny in-memory datasets and configs for fast tests."""

from __future__ import annotations

import torch

from gankit.config import TrainConfig, validate
from gankit.data.base import Dataset
from gankit.algorithms import MODELS


def image_data(n: int = 64, channels: int = 1, size: int = 28, classes: int = 10, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % classes if classes else None
    return Dataset("tiny", x, labels, num_classes=classes, class_names=[str(i) for i in range(classes)])


def point_data(n: int = 256, classes: int = 8) -> Dataset:
    g = torch.Generator().manual_seed(0)
    return Dataset("points", torch.randn(n, 2, generator=g), torch.arange(n) % classes,
                   num_classes=classes, class_names=[str(i) for i in range(classes)], kind="points")


# models that refuse to train without a key of their own: the smallest value (kw's options win)
NEEDS_OPTIONS = {"ssgan": {"labels_per_class": 1}}


def config(model: str, out: str = "unused", **kw) -> TrainConfig:
    """The model's registry defaults plus small, fast settings."""
    merged = dict(MODELS.get(model).defaults)
    merged.update(dict(model=model, dataset="tiny", batch_size=16, width=8, z_dim=16, device="cpu",
                       log_every=2, checkpoint_every=1000, grid_size=20, out=out))
    if model in NEEDS_OPTIONS:
        kw["options"] = {**NEEDS_OPTIONS[model], **kw.get("options", {})}
    merged.update(kw)
    return validate(TrainConfig(**merged))


# the corner (row, col) of each class's bright 8x8 square in `labelled_folder`
FOLDER_CORNERS = {"a": (0, 0), "b": (0, 8), "c": (8, 0)}


def labelled_folder(root, n_train: int = 24, n_test: int = 10, seed: int = 0, splits=("train", "test")):
    """A folder dataset with train/ and test/ (or just `splits`), one subfolder per class: 16x16 RGB
    PNGs of dark noise with a bright square in the class's corner (FOLDER_CORNERS), easy to tell apart."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        if split not in splits:
            continue
        for cls, (r, c) in FOLDER_CORNERS.items():
            d = Path(root) / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                arr = rng.integers(0, 40, (16, 16, 3))
                arr[r:r + 8, c:c + 8] += np.array([200, 150, 100])
                Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(d / f"{i}.png")
    return Path(root)


def make_trainer(cfg: TrainConfig, data: Dataset, run, evaluator=None, dist=None):
    """The run manager for cfg's registered model (as `gankit train` builds it)."""
    from gankit.training.loop import Trainer

    return Trainer(cfg, data, run, MODELS.get(cfg.model), evaluator, dist)


def build_models(cfg: TrainConfig, info):
    """(G, D) of cfg's GAN model, freshly initialised."""
    nets = MODELS.get(cfg.model).make(cfg, info).networks
    return nets["G"], nets["D"]


def train_to(cfg: TrainConfig, data: Dataset, resume: bool = False, spec=None):
    """Train cfg into the run folder cfg.out (created, or with `resume` continued from its last
    checkpoint) until its budget; returns the trainer. spec: the model (default: cfg's registered)."""
    from pathlib import Path

    from gankit.runs import RunFolder
    from gankit.training.loop import Trainer

    run = RunFolder.open(Path(cfg.out)) if resume else RunFolder.create(Path(cfg.out), cfg, data.info())
    trainer = Trainer(cfg, data, run, spec or MODELS.get(cfg.model))
    if resume:
        trainer.restore(run.checkpoint())
    trainer.train()
    run.unlock()
    return trainer


# a run of three steps on the digits, small enough to train in a second or two
TINY_RUN = ["--dataset", "digits"] + [a for kv in ("max_steps=3", "width=8", "z_dim=16", "batch_size=16", "log_every=1",
                                                   "grid_size=4", "threads=1", "device=cpu", "precision=fp32")
                                      for a in ("--set", kv)]


def fuzz_commands(run, tmp_path, all_commands: bool) -> list[list]:
    """The commands a fuzzed run folder is put through: `sample` and `train --resume` always,
    `interpolate` and `eval` too when all_commands (a subset of the cases: they are slower)."""
    commands = [["sample", run, "--n", 4, "--out", tmp_path / "s.npz"], ["train", "--resume", run]]
    if all_commands:
        commands += [["interpolate", run, "--out", tmp_path / "i.png", "--rows", 2, "--steps", 3],
                     ["eval", run, "--n", 20, "--no-memorization"]]
    return commands


def outcome(capsys, argv: list, seconds: float = 30) -> tuple[int, str]:
    """The command line in this process: (0, "") when it succeeds, (2, its one-line error) when it
    refuses; anything else fails the test: another exit code, a traceback, more than one line, or
    running past `seconds` (a hang)."""
    import signal

    from gankit.cli import main

    def hang(signum, frame):
        raise TimeoutError(f"gankit {' '.join(map(str, argv))} ran past {seconds} s")
    old = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err.strip()
    if not code:
        return 0, ""
    line = err.splitlines()[-1] if err else ""
    assert code == 2 and line.startswith("gankit: error: ") and "Traceback" not in err, (code, err)
    return code, line
