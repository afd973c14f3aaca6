"""One device and one precision setting, resolved once and passed down."""

from __future__ import annotations

import contextlib

import torch

from gankit.config import check_device_name
from gankit.errors import UserError

HOW_CPU = "--device cpu; for gankit train, --set device=cpu"


def resolve_device(name: str) -> torch.device:
    check_device_name(name)
    if name == "auto":  # a CUDA GPU, else Apple's MPS (untested: no Mac here), else the CPU
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but this PyTorch sees no CUDA GPU; use cpu ({HOW_CPU})")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise UserError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                        "numbered from cuda:0")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device 'mps' asked for, but it is not available; use cpu ({HOW_CPU})")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        return bool(cpu and (cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()))
    return False


def resolve_precision(name: str, device: torch.device, kind: str = "image") -> str:
    """`precision` as run: auto is bf16 where the device has bf16 arithmetic, except on points
    (kind "points", the 1-D and 2-D mixtures), which stay fp32: bf16 resolves about 0.004 at 1, the
    scale of ring8's modes (std 0.01), and their small MLPs are overhead-bound, so bf16 buys no speed
    there (measured in docs/benchmarks.md: bf16 left gan on ring8 at 2% high-quality samples where fp32
    reached 86%)."""
    if name == "auto":
        return "bf16" if bf16_supported(device) and kind != "points" else "fp32"
    return name


def autocast(device: torch.device, precision: str):
    """Mixed precision for forward passes: bf16 compute, fp32 master weights and optimizer state."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe_cpu() -> str:
    """This machine's CPU in one line, for benchmark tables and bug reports: the model name (from
    /proc/cpuinfo where there is one), the cores PyTorch uses, and the vector features that decide
    gankit's speed (AVX2, AVX-512, AVX-512 BF16, AMX)."""
    import os
    import platform

    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    features = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"),
                                          ("avx512_bf16", "AVX-512 BF16"), ("amx_bf16", "AMX-BF16"))
                if flag in flags]
    if not flags:
        features = ["features unknown"]
    elif not features:
        features = ["no AVX2"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores, {', '.join(features)}; precision auto = {resolve_precision('auto', torch.device('cpu'))}"
