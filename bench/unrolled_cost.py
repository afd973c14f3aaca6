"""What unrolling D costs: milliseconds per training step (one full iteration: the D steps, the G
step through the unrolled copy of D, the EMA) of `gan` and `dcgan` with unroll = 0, 5 and 10, on
synthetic data of MNIST's shape, measured side by side in one process: the rows take turns, round
after round, and each shows its best round. Ratios are against the same model without unrolling.

Usage: python bench/unrolled_cost.py [--models gan,dcgan] [--unroll 0,5,10] [--seconds 3] [--rounds 3]
                                     [--batch 64] [--set key=value ...] [--first-order]
`--set` goes into every row's config after the model's defaults (e.g. --set threads=1, --set
precision=fp32); --first-order adds the rows without gradients through the unrolling
(unroll_grad=false). Prints a table; never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.algorithms import MODELS  # noqa: E402
from gankit.config import TrainConfig, parse_set, validate  # noqa: E402
from gankit.data.base import Dataset  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.errors import UserError  # noqa: E402
from gankit.info import iteration_rate  # noqa: E402
from gankit.runs import RunFolder  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402

WARMUP = 3


def make_row(model: str, unroll: int, grad: bool, batch: int, sets: dict, tmp: Path, data: Dataset):
    cfg = dict(MODELS.get(model).defaults)
    cfg.update(sets)
    cfg.update(model=model, dataset="synthetic", batch_size=batch, unroll=unroll, unroll_grad=grad,
               clusters=0, log_every=10 ** 9, checkpoint_every=10 ** 9, checkpoint_minutes=0.0,
               eval_every=0, out=str(tmp / f"{model}-{unroll}-{int(grad)}"))
    cfg = validate(TrainConfig(**cfg))
    trainer = Trainer(cfg, data, RunFolder.create(Path(cfg.out), cfg, data.info()), MODELS.get(model))
    stats: dict = {}
    for _ in range(WARMUP):
        trainer.iteration(stats)
    return trainer, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="gan,dcgan")
    ap.add_argument("--unroll", default="0,5,10", help="comma-separated unrolling steps (0: plain)")
    ap.add_argument("--first-order", action="store_true", help="also the rows with unroll_grad=false")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    try:
        sets = parse_set(args.sets)
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        for m in models:
            MODELS.get(m)
        unrolls = [int(u) for u in args.unroll.split(",") if u.strip()]
    except (UserError, ValueError) as e:
        sys.exit(f"unrolled_cost: error: {e}")
    g = torch.Generator().manual_seed(0)
    n = max(2048, args.batch * 8)
    data = Dataset("synthetic", torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
                   None, num_classes=0)
    print(f"CPU: {describe_cpu()}")
    print(f"torch {torch.__version__}, images 1x28x28, batch {args.batch}, --set "
          f"{' '.join(f'{k}={v}' for k, v in sets.items()) or 'none'}; best of {args.rounds} rounds of "
          f"{args.seconds:g} s, rows alternating", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for model in models:
            for k in unrolls:
                for grad in ([True, False] if args.first_order and k else [True]):
                    try:
                        rows.append((model, k, grad, *make_row(model, k, grad, args.batch, sets, Path(tmp), data)))
                    except UserError as e:
                        print(f"{model} unroll={k}: error: {e}", flush=True)
        rates: dict[int, list[float]] = {i: [] for i in range(len(rows))}
        for _ in range(max(1, args.rounds)):
            for i, (_, _, _, trainer, stats) in enumerate(rows):
                if trainer.cfg.threads:
                    torch.set_num_threads(trainer.cfg.threads)
                rates[i].append(iteration_rate(trainer, stats, args.seconds, at_least=2))
        print(f"{'model':8s} {'unroll':>6s} {'order':>6s} {'precision':9s} {'img/s':>8s} {'ms/step':>8s} "
              f"{'x plain':>8s}")
        base: dict[str, float] = {}
        for i, (model, k, grad, trainer, _) in enumerate(rows):
            best = max(rates[i])
            ms = 1000 * trainer.sampler.bs * trainer.per_iteration / best
            if k == 0:
                base[model] = ms
            ratio = f"{ms / base[model]:.2f}x" if model in base else "-"
            order = "-" if k == 0 else ("2nd" if grad else "1st")
            print(f"{model:8s} {k:6d} {order:>6s} {trainer.precision:9s} {best:8.0f} {ms:8.1f} {ratio:>8s}", flush=True)


if __name__ == "__main__":
    from entry import run

    run(main)
