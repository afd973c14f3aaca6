"""Training throughput of every model: real images shown to D per second, one full iteration
(d_steps D updates + g_steps G updates + EMA) at a time, on synthetic data of the dataset's shape,
at a few batch sizes; with the FLOPs of one iteration per image and the share of the machine's
measured matmul peak that this achieves; and, beside gankit's `dcgan`, the naive tutorial-style
baseline of the same networks (bench/naive_dcgan.py), measured in the same process, alternating
with it.

Usage: python bench/throughput.py [--size 28] [--channels 1] [--batches 32,64,128] [--seconds 3]
                                  [--rounds 3] [--precision auto] [--models dcgan,cdcgan]
                                  [--device cpu] [--set key=value ...] [--no-naive] [--peak-seconds 3]
Columns:
  img/s       real images through D per second (the trainer's definition): the best of --rounds
              timed rounds of --seconds each, after the counted iteration and 3 warm-up ones; for
              dcgan the rounds of gankit and of the naive baseline alternate (gankit, naive, ...)
  spread      (best - worst) / best over the rounds: a large value means the machine was busy
  MFLOP/img   FLOPs of one full iteration (forward and backward of every D and G step, as the loop
              runs them) counted by torch.utils.flop_counter.FlopCounterMode, per real image;
              matmuls and convolutions only (norms, activations, optimizer and EMA are not counted)
  GFLOP/s     MFLOP/img x img/s
  %peak       GFLOP/s as a share of the measured peak of the precision in use: a large square
              matmul (torch.mm) in fp32 and in bf16, --peak-seconds each, PyTorch's default threads
  vs naive    gankit img/s / naive img/s at the same batch size (dcgan and its naive row only)
`--set key=value` (repeatable) goes into every model's TrainConfig after the model's defaults, as
with `gankit train` (e.g. --set g_steps=1, --set threads=2, or any speed switch the trainer has);
batch_size comes from --batches. The naive baseline takes only the architecture keys (width,
depth, z_dim, d_norm) and always runs fp32 with PyTorch's default thread count.
Prints a table; never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gankit.device import bf16_supported  # noqa: E402
from gankit.config import TrainConfig, parse_set, validate  # noqa: E402
from gankit.data.base import Dataset  # noqa: E402
from gankit.errors import UserError  # noqa: E402
from gankit.algorithms import MODELS  # noqa: E402
from gankit.info import iteration_rate, matmul_rate  # noqa: E402
from gankit.runs import RunFolder  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402
from naive_dcgan import NaiveDCGAN  # noqa: E402

WARMUP = 3  # untimed iterations first (oneDNN builds its kernels on the first calls)


class _PlainFlopCounter(TorchDispatchMode):
    """FlopCounterMode's formulas without its module tracker, whose backward hooks cannot follow
    autograd.grad inside a step (WGAN-GP's gradient penalty)."""

    def __init__(self):
        super().__init__()
        self.registry = FlopCounterMode(display=False).flop_registry
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        f = self.registry.get(func._overloadpacket)
        if f is not None:
            self.total += f(*args, **kwargs, out_val=out)
        return out


def count_flops(fn) -> Optional[float]:
    """FLOPs of one call of fn(), counted by torch.utils.flop_counter.FlopCounterMode (or, where
    that fails, by its formulas in a plain dispatch mode); None where neither can follow it."""
    try:
        with warnings.catch_warnings():  # torch.compile warns about the counter's global hooks
            warnings.simplefilter("ignore", UserWarning)
            with FlopCounterMode(display=False) as fc:
                fn()
        return float(fc.get_total_flops())
    except Exception:
        pass
    try:
        with _PlainFlopCounter() as fc:
            fn()
        return float(fc.total)
    except Exception as e:  # a bench prints what it can
        print(f"  (FLOP count failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})",
              file=sys.stderr)
        return None


def synthetic(size: int, channels: int, batch: int) -> Dataset:
    n = max(4096, batch * 8)
    g = torch.Generator().manual_seed(0)
    return Dataset("synthetic", torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8),
                   torch.arange(n) % 10, num_classes=10)


def model_config(model: str, batch: int, sets: dict, precision: Optional[str], device: str,
                 out: Path) -> TrainConfig:
    cfg = dict(MODELS.get(model).defaults)
    cfg.update(sets)
    cfg.update(model=model, dataset="synthetic", batch_size=batch, device=device,
               log_every=10**9, checkpoint_every=10**9, eval_every=0, out=str(out))
    if precision is not None:
        cfg["precision"] = precision
    return validate(TrainConfig(**cfg))


class GankitRow:
    """gankit's Trainer on synthetic data; rate(seconds) times whole iterations."""

    def __init__(self, cfg: TrainConfig, data: Dataset, tmp: Path):
        self.cfg = cfg
        run = Path(tempfile.mkdtemp(prefix=f"{cfg.model}-{cfg.batch_size}-", dir=tmp)) / "run"
        self.trainer = Trainer(cfg, data, RunFolder.create(run, cfg, data.info()), MODELS.get(cfg.model))
        self.stats: dict = {}
        self.per_iter = self.trainer.sampler.bs * self.trainer.per_iteration
        # counted first: the counter's hooks can make torch.compile recompile, inside the warm-up
        flops = count_flops(lambda: self.trainer.iteration(self.stats))
        self.flops_per_image = flops / self.per_iter if flops is not None else None
        for _ in range(WARMUP):
            self.trainer.iteration(self.stats)
        self.precision = self.trainer.precision
        t = self.trainer
        self.params = sum(p.numel() for net in t.nets.values() for p in net.parameters())

    def rate(self, seconds: float) -> float:
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        return iteration_rate(self.trainer, self.stats, seconds)


class NaiveRow:
    """bench/naive_dcgan.py's tutorial loop on the same data, networks and batch size."""

    def __init__(self, cfg: TrainConfig, data: Dataset, device: str, threads: int):
        self.threads = threads
        torch.set_num_threads(threads)
        self.naive = NaiveDCGAN(data.x, seed=cfg.seed, batch_size=cfg.batch_size, device=device, cfg=cfg)
        flops = count_flops(lambda: self.naive.train(images=1))  # exactly one iteration
        self.flops_per_image = flops / self.naive.images_seen if flops is not None else None
        self.naive.train(images=WARMUP * cfg.batch_size)
        self.precision = "fp32"
        n = self.naive
        self.params = sum(p.numel() for p in n.netG.parameters()) + sum(p.numel() for p in n.netD.parameters())

    def rate(self, seconds: float) -> float:
        torch.set_num_threads(self.threads)  # the tutorial sets no threads: PyTorch's default
        return self.naive.train(seconds=seconds)["img_per_s"]


def row(name: str, batch: int, r, rates: list[float], peaks: dict, vs: str) -> str:
    best = max(rates)
    spread = f"{100 * (best - min(rates)) / best:.0f}%" if len(rates) > 1 else "-"
    fpi = r.flops_per_image
    if fpi is None:
        mflop = gflops = pct = "-"
    else:
        achieved = fpi * best / 1e9
        mflop, gflops = f"{fpi / 1e6:.1f}", f"{achieved:.1f}"
        peak = peaks.get(r.precision)
        pct = f"{100 * achieved / peak:.1f}" if peak else "-"
    return (f"{name:12s} {batch:5d} {r.precision:9s} {r.params:10d} {best:9.0f} {spread:>6s} "
            f"{mflop:>10s} {gflops:>8s} {pct:>6s} {vs:>8s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batches", default="32,64,128", help="comma-separated batch sizes")
    ap.add_argument("--batch", type=int, default=None, help="one batch size (overrides --batches)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row and round")
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed rounds per row (gankit and naive alternate); the best is shown")
    ap.add_argument("--precision", default=None, help="auto | bf16 | fp32 (default: --set, else auto)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default=",".join(MODELS.names()))
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a TrainConfig override for every model (repeatable)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive dcgan baseline rows")
    ap.add_argument("--peak-seconds", type=float, default=3.0, help="seconds per matmul peak measurement")
    ap.add_argument("--peak-size", type=int, default=None, help="matmul side (default 2048 CPU, 8192 CUDA)")
    args = ap.parse_args()

    try:
        sets = parse_set(args.sets)
        batches = [args.batch] if args.batch else [int(b) for b in args.batches.split(",") if b.strip()]
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        for m in models:
            MODELS.get(m)
        device = torch.device(args.device)
    except UserError as e:
        sys.exit(f"throughput: error: {e}")
    except (ValueError, RuntimeError) as e:
        sys.exit(f"throughput: error: {e}")
    default_threads = torch.get_num_threads()  # the peak is the machine's: all default threads
    args.rounds = max(1, args.rounds)
    n = args.peak_size or (8192 if device.type == "cuda" else 2048)
    # the peaks of the precisions the rows use: a bf16 matmul on a CPU without bf16 arithmetic (or
    # with its kernels held back by ONEDNN_MAX_CPU_ISA) can take minutes per call
    wanted = args.precision or sets.get("precision") or "auto"
    used = ["fp32"] + (["bf16"] if wanted == "bf16" or (wanted == "auto" and bf16_supported(device)) else [])
    peaks = {p: matmul_rate(getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[p]), device, args.peak_seconds, n)
             for p in used}
    shown_sets = " ".join(f"{k}={v}" for k, v in sets.items()) or "none"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"images {args.channels}x{args.size}x{args.size}, --set {shown_sets}")
    print(f"matmul peak ({n}x{n}): " + ", ".join(f"{p} {v:.1f} GFLOP/s" for p, v in peaks.items()))
    print(f"{'model':12s} {'batch':>5s} {'precision':9s} {'params':>10s} {'img/s':>9s} {'spread':>6s} "
          f"{'MFLOP/img':>10s} {'GFLOP/s':>8s} {'%peak':>6s} {'vs naive':>8s}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for batch in batches:
            data = synthetic(args.size, args.channels, batch)
            for model in models:
                torch.set_num_threads(default_threads)  # the Trainer applies `threads` itself
                try:
                    cfg = model_config(model, batch, sets, args.precision, args.device, Path(tmp))
                    g = GankitRow(cfg, data, Path(tmp))
                except UserError as e:
                    print(f"{model:12s} {batch:5d} error: {e}", flush=True)
                    continue
                naive = (NaiveRow(cfg, data, args.device, default_threads)
                         if model == "dcgan" and not args.no_naive else None)
                g_rates, n_rates = [], []
                for _ in range(args.rounds):  # gankit, then naive, then again: the best of each
                    g_rates.append(g.rate(args.seconds))
                    if naive:
                        n_rates.append(naive.rate(args.seconds))
                vs = f"{max(g_rates) / max(n_rates):.2f}x" if naive else ""
                print(row(model, batch, g, g_rates, peaks, vs), flush=True)
                if naive:
                    print(row("dcgan-naive", batch, naive, n_rates, peaks, "1.00x"), flush=True)
                del g, naive

if __name__ == "__main__":
    from entry import run

    run(main)
