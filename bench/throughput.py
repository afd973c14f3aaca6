"""Training throughput of every model: real images shown to D per second, one full iteration
(d_steps D updates + G update + EMA) at a time, on synthetic data of the dataset's shape.

Usage: python bench/throughput.py [--size 28] [--batch 64] [--seconds 5] [--precision auto]
                                  [--models dcgan,cdcgan] [--device cpu]
Prints a table; never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.config import TrainConfig, validate  # noqa: E402
from gankit.data.base import Dataset  # noqa: E402
from gankit.models import MODELS  # noqa: E402
from gankit.runs import RunFolder  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402


def measure(model: str, size: int, channels: int, batch: int, seconds: float, precision: str,
            device: str, tmp: Path) -> tuple[float, str, int]:
    n = max(4096, batch * 8)
    g = torch.Generator().manual_seed(0)
    data = Dataset("synthetic", torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8),
                   torch.arange(n) % 10, num_classes=10)
    cfg = dict(MODELS.get(model).defaults)
    cfg.update(model=model, dataset="synthetic", batch_size=batch, precision=precision, device=device,
               log_every=10**9, checkpoint_every=10**9, out=str(tmp / model))
    cfg = validate(TrainConfig(**cfg))
    trainer = Trainer(cfg, data, RunFolder.create(tmp / model, cfg, data.info()))
    stats: dict = {}
    for _ in range(3):
        trainer.iteration(stats)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    t0, iters = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        trainer.iteration(stats)
        iters += 1
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    params = sum(p.numel() for p in trainer.G.parameters()) + sum(p.numel() for p in trainer.D.parameters())
    return iters * batch * cfg.d_steps / dt, trainer.precision, params


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default=",".join(MODELS.names()))
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"images {args.channels}x{args.size}x{args.size}, batch {args.batch}")
    print(f"{'model':10s} {'precision':9s} {'params':>10s} {'img/s':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            rate, prec, params = measure(model, args.size, args.channels, args.batch, args.seconds,
                                         args.precision, args.device, Path(tmp))
            print(f"{model:10s} {prec:9s} {params:10d} {rate:9.0f}", flush=True)


if __name__ == "__main__":
    main()
