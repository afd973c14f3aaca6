"""What this machine can do for gankit (`gankit info`): the versions, the device and the precision
`auto` picks and why, the CPU's vector features, a measured matmul rate, and the measured training
speed of the default model, with the time its default first run should take. What a user wants to
know before a long run, and what they paste into a bug report.

The speeds are measured here and now, on synthetic data of the datasets' shapes: a busy machine
reads slower.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from gankit import __version__
from gankit.device import bf16_supported, describe_cpu, resolve_device, resolve_precision


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timing on a GPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def matmul_rate(dtype: torch.dtype, device: torch.device, seconds: float, n: int = 1024) -> float:
    """GFLOP/s of an n x n x n torch.mm in `dtype`, repeated for about `seconds` (at least 3 times)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b, out=c)
    sync(device)
    t0, reps = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds or reps < 3:
        torch.mm(a, b, out=c)
        reps += 1
        if device.type != "cpu" and reps % 10 == 0:  # the clock reads finished work, not a queue
            sync(device)
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def precision_reason(device: torch.device) -> str:
    """The precision `precision=auto` picks on `device`, and why, in a few words."""
    picked = resolve_precision("auto", device)
    if device.type == "cpu":
        why = ("the CPU has bf16 arithmetic (AVX-512 BF16 or AMX)" if picked == "bf16"
               else "the CPU has no bf16 arithmetic (AVX-512 BF16 or AMX), where bf16 would be slower")
    elif device.type == "cuda":
        why = "the GPU supports bf16" if picked == "bf16" else "the GPU has no bf16 support"
    else:
        why = f"gankit uses bf16 on {device.type} only where it is known to be fast"
    return f"{picked}: {why}"


def training_rate(model: str, dataset: str, shape: tuple[int, ...], n: int, device: torch.device,
                  seconds: float) -> tuple[float, object]:
    """Images per second of `gankit train MODEL --dataset DATASET` (the registry's defaults for
    that dataset) on n synthetic images of `shape`: whole iterations after 3 warm-up ones. Returns
    (img/s, the Trainer), so the caller can read its budget."""
    from gankit.algorithms import MODELS
    from gankit.config import build_config
    from gankit.data.base import Dataset
    from gankit.runs import RunFolder
    from gankit.training.loop import Trainer

    spec = MODELS.get(model)
    with tempfile.TemporaryDirectory(prefix="gankit-info-") as tmp:
        out = Path(tmp) / "run"
        cfg = build_config(model, spec.defaults, None, [], {"dataset": dataset, "out": str(out)},
                           spec.dataset_defaults, spec.algorithm.Options)
        cfg.device = device.type  # self-conditioning (clusters) stays: its label weights cost speed
        cfg.log_every = cfg.checkpoint_every = 10 ** 9
        cfg.checkpoint_minutes, cfg.eval_every, cfg.image_size = 0, 0, shape[-1]
        g = torch.Generator().manual_seed(0)
        data = Dataset(dataset, torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8),
                       torch.arange(n) % 10, num_classes=10)
        trainer = Trainer(cfg, data, RunFolder.create(out, cfg, data.info()), spec)
        stats: dict = {}
        for _ in range(3):
            trainer.iteration(stats)
        rate = iteration_rate(trainer, stats, seconds, at_least=3)
    return rate, trainer


def iteration_rate(trainer, stats: dict, seconds: float, at_least: int = 0) -> float:
    """Real images per second of the trainer's whole iterations, run for `seconds` (and at least
    `at_least` iterations), the device's queue drained at both ends."""
    sync(trainer.device)
    t0, iters = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds or iters < at_least:
        trainer.iteration(stats)
        iters += 1
    sync(trainer.device)
    return iters * trainer.sampler.bs * trainer.per_iteration / (time.perf_counter() - t0)


def report(seconds: float = 2.0, device_name: str = "auto") -> list[str]:
    """`gankit info`'s lines. `seconds`: how long each measurement runs."""
    from gankit.data import DataSpec, load_dataset

    device = resolve_device(device_name)
    lines = [f"gankit {__version__}, PyTorch {torch.__version__}, Python {platform.python_version()}, "
             f"{platform.system()} {platform.machine()}",
             f"CPU: {describe_cpu()}",
             f"PyTorch CPU threads: {torch.get_num_threads()} (set with --set threads=N)"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(f"CUDA device {i}: {p.name}, {p.total_memory / 2 ** 30:.0f} GiB")
    else:
        lines.append("CUDA: none seen by this PyTorch")
    mps = getattr(torch.backends, "mps", None)
    lines.append(f"Apple MPS: {'available' if mps and mps.is_available() else 'not available'}")
    busy = busy_note()
    if busy:
        lines.append(busy)
    lines.append(f"device=auto picks {device.type}; precision=auto picks {precision_reason(device)}")
    rates = [f"fp32 {matmul_rate(torch.float32, device, seconds / 2):.0f}"]
    if bf16_supported(device):
        rates.append(f"bf16 {matmul_rate(torch.bfloat16, device, seconds / 2):.0f}")
    lines.append(f"matmul 1024x1024 on {device.type}: {', '.join(rates)} GFLOP/s")
    digits = load_dataset("digits", DataSpec(split="train"))
    rate, trainer = training_rate("dcgan", "digits", digits.shape, len(digits), device, seconds)
    first = trainer.budget.epochs * len(digits) / rate
    lines.append(f"default first run (`gankit train`: dcgan on digits, {trainer.precision}, batch "
                 f"{trainer.sampler.bs}): {rate:.0f} img/s; its {trainer.budget.epochs:g} epochs of "
                 f"{len(digits)} images take about {_duration(first)} of training")
    rate, trainer = training_rate("dcgan", "mnist", (1, 28, 28), 2048, device, seconds)
    lines.append(f"dcgan on mnist (28x28, {trainer.precision}, batch {trainer.sampler.bs}): {rate:.0f} img/s, "
                 f"an epoch of 60000 images in about {_duration(60000 / rate)}")
    return lines


def busy_note() -> str:
    """A warning when other work shares the CPU (the 1-minute load average above the cores gankit
    may use), since every speed below then reads low; "" when quiet or unknown."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load <= cores + 0.5:
        return ""
    return (f"busy: load average {load:.1f} on {cores} cores; other work shares the CPU, so the speeds "
            "below read low (run again on a quiet machine)")


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} minutes"
