"""Objectives by name: `OBJECTIVES.get("gan").build(cfg) -> Objective`."""

from gankit.objectives.base import OBJECTIVES, Objective
from gankit.objectives import gan, wgan  # noqa: E402,F401  (registers them)

__all__ = ["OBJECTIVES", "Objective"]
