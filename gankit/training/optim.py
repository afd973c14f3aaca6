"""Optimizers and compiled networks, built for the run manager from the config."""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import TrainConfig


def make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    fused = {"fused": True} if cfg.fused else {}  # RMSprop has no fused kernel; it ignores the key
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), **fused)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, **fused)
    return torch.optim.RMSprop(params, lr=lr)


def match_layout(opt: torch.optim.Optimizer) -> None:
    """Give restored optimizer state the memory layout of its parameter. Checkpoints store NCHW;
    a channels_last parameter with NCHW moments would pair the wrong elements in fused kernels."""
    for p, state in opt.state.items():
        for k, v in state.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                state[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def compiled(module: nn.Module) -> nn.Module:
    """torch.compile(module), or the module itself where compiling is not possible. Errors found
    later, while tracing the first steps, also fall back to eager code (suppress_errors)."""
    try:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True
        return torch.compile(module)
    except Exception:  # no compiler for this platform or Python
        return module
