"""When a run stops: epochs, generator steps or wall minutes, whichever comes first."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from gankit.config import TrainConfig

AUTO_EPOCH_IMAGES = 300_000  # without an epoch limit, a grid every 1/50 of this many images


def auto_images_sets_budget(epochs, minutes, max_steps) -> bool:
    """Whether auto_images decides a run's length: only where none of the three is set (a bench
    run's identity leaves it out otherwise, bench/collapse_runs.py)."""
    return not (epochs or minutes or max_steps)


def auto_epochs(cfg: TrainConfig, n: int) -> float:
    """Explicit epochs; else no epoch limit under a minutes or step budget; else enough epochs
    for D to see about cfg.auto_images real images (at least 5)."""
    if cfg.epochs:
        return cfg.epochs
    if not auto_images_sets_budget(cfg.epochs, cfg.minutes, cfg.max_steps):
        return math.inf
    return max(5, math.ceil(cfg.auto_images / n))


def auto_sample_every(cfg: TrainConfig, epochs: float, n: int) -> int:
    """Epochs between grids: at most ~50 grids a run, or one per ~6k images without an epoch limit."""
    if cfg.sample_every:
        return cfg.sample_every
    if math.isinf(epochs):
        return max(1, math.ceil(AUTO_EPOCH_IMAGES / 50 / n))
    return max(1, math.ceil(epochs / 50))


@dataclass
class Budget:
    """When to stop: total epochs, generator steps, or wall minutes (summed across resumes)."""

    epochs: float  # math.inf: no epoch limit
    max_steps: Optional[int]
    minutes: Optional[float]

    def done(self, step: int, epoch: int, elapsed: float) -> Optional[str]:
        if epoch >= self.epochs:
            return f"finished {self.epochs:g} epochs"
        if self.max_steps is not None and step >= self.max_steps:
            return f"reached max_steps={self.max_steps}"
        if self.minutes is not None and elapsed >= self.minutes * 60:
            return f"reached the {self.minutes:g}-minute budget"
        return None
