"""One device and one precision setting, resolved once and passed down."""

from __future__ import annotations

import contextlib

import torch

from gankit.errors import UserError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but this PyTorch sees no CUDA GPU; use --set device=cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' asked for, but it is not available; use --set device=cpu")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        return bool(cpu and (cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()))
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    if name == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return name


def autocast(device: torch.device, precision: str):
    """Mixed precision for forward passes: bf16 compute, fp32 master weights and optimizer state."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
