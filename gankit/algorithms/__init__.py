"""Algorithms (what is trained, and how one iteration goes) and the named models built on them.

`MODELS.get("dcgan").make(cfg, data_info)` returns the algorithm with its networks; `build(cfg,
info)` does the same for a config's model.
"""

from gankit.algorithms.base import Algorithm, Context, OptimizerSpec, Phase
from gankit.algorithms.registry import MODELS
from gankit.algorithms import papers

papers.attach(MODELS)  # `--preset paper`: each model's paper's settings


def build(cfg, info) -> Algorithm:
    """The algorithm of `cfg.model` with freshly initialised networks for data `info`."""
    return MODELS.get(cfg.model).make(cfg, info)


__all__ = ["MODELS", "Algorithm", "Context", "OptimizerSpec", "Phase", "build"]
