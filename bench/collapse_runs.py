"""Shared by bench/mixtures.py and bench/stacked_mnist.py: one training run of a model with a
remedy's config keys, in a temporary run folder, and samples from its (EMA) generator; and the
mean +- sd columns of the tables."""

from __future__ import annotations

import contextlib
import io
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.algorithms import MODELS  # noqa: E402
from gankit.config import build_config  # noqa: E402
from gankit.runs import RunFolder  # noqa: E402
from gankit.sampling import draw, eval_mode  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402


def train_and_sample(model: str, data, preset: str, sets: dict[str, Any], steps: int, seed: int,
                     n_samples: int, threads: int = 1, device: str = "cpu",
                     ema: bool = True) -> tuple[torch.Tensor, dict]:
    """Train `model` on `data` (a gankit Dataset) for `steps` G steps with the model's defaults,
    `preset`, then `sets` over them (as `gankit train MODEL --preset P --set k=v` would), and draw
    n_samples samples (model range) with latents from `seed`, from G's EMA copy where the run keeps
    one (ema=False: G's own weights, as the papers sample). Returns (samples, facts: seconds,
    s_per_epoch, the config's remedy keys)."""
    spec = MODELS.get(model)
    keys = [f"{k}={v}" for k, v in sets.items()]
    keys += [f"max_steps={steps}", f"seed={seed}", f"threads={threads}", f"device={device}",
             "checkpoint_every=1000000000", "checkpoint_minutes=0", f"log_every={max(1, min(100, steps))}",
             "sample_every=1000000"]
    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
        out = Path(tmp) / "run"
        cfg = build_config(model, spec.defaults, None, keys, {"dataset": data.name, "out": str(out),
                           "preset": preset}, spec.dataset_defaults, spec.algorithm.Options, spec.paper)
        if cfg.image_size is None and data.kind == "image":
            cfg.image_size = data.shape[-1]
        t0 = time.perf_counter()
        trainer = Trainer(cfg, data, RunFolder.create(out, cfg, data.info()), spec)
        with contextlib.redirect_stdout(io.StringIO()):  # the progress lines; the table is the output
            trainer.train()
        seconds = time.perf_counter() - t0
        rows = [r for r in trainer.run.read_metrics() if "s_per_epoch" in r]
        nets = trainer.sampling_nets() if ema else dict(trainer.nets)
        with eval_mode(nets[trainer.algo.sampler]):
            x = draw(trainer.algo, nets, n_samples, seed=10_000 + seed)
        trainer.run.unlock()
    facts = {"seconds": seconds, "s_per_epoch": rows[-1]["s_per_epoch"] if rows else math.nan,
             "batch_size": cfg.batch_size, "steps": trainer.step}
    return x, facts


def mean_sd(values: list[float], digits: int = 1, scale: float = 1.0) -> str:
    """'m +- sd' of the finite values (sd over the seeds, n - 1; no sd for one value), with how many
    were infinite (a reverse KL without any high-quality sample) after it."""
    v = [x * scale for x in values if math.isfinite(x)]
    inf = sum(1 for x in values if not math.isfinite(x))
    tail = f" ({inf} inf)" if inf else ""
    if not v:
        return "inf" if inf else "-"
    m = sum(v) / len(v)
    if len(v) < 2:
        return f"{m:.{digits}f}{tail}"
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    return f"{m:.{digits}f} +- {sd:.{digits}f}{tail}"


def parse_rows(text: Optional[str], known: dict) -> list[str]:
    """--rows a,b,c -> the names, each checked against `known` (all of them when not given)."""
    if not text:
        return list(known)
    names = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in names if r not in known]
    if bad:
        raise SystemExit(f"unknown rows {', '.join(bad)}; choose from {', '.join(known)}")
    return names
