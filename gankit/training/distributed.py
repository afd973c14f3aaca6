"""Many processes: `torchrun --nproc_per_node N -m gankit train ...` trains with
DistributedDataParallel (gloo on CPU, NCCL on CUDA, one GPU per process: cuda:LOCAL_RANK).

torchrun is recognised by its environment (WORLD_SIZE > 1, RANK, LOCAL_RANK); without it nothing
here runs and training is the single process it always was. Under torchrun:

- the global batch is `batch_size`: every rank draws the same seeded permutation and takes its own
  disjoint slice of each batch (batch_size / N images);
- each rank's noise is its own: the z/eps generator is seeded seed + 1 + rank (rank 0 draws what a
  single process draws) and ranks > 0 reseed the global RNG (dropout) with seed + 1 + rank;
- G and D are wrapped in DDP; G's step runs D through its wrapper with D's weights frozen (G's
  gradients are averaged by G's DDP, D gets none); `sync_bn` swaps every BatchNorm for `SyncBatchNorm` (gankit's own on
  CPU, where PyTorch's needs a GPU), so batch statistics are those of the global batch;
- rank 0 alone writes the run folder (log, metrics averaged over the ranks, grids, evaluation,
  checkpoints with every rank's RNG state) and holds its lock; the others only read it, so a
  multi-node run needs the run folder on a shared filesystem;
- the ranks agree after every iteration on three things: whether to stop (Ctrl-C reaches each
  process at a slightly different moment), the wall time (the `minutes` budget ends everywhere at
  the same step) and whether rank 0 failed to write: a UserError there then ends every process
  with the same one-line message and exit code, instead of leaving the others waiting forever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Optional

import torch
from torch import nn

from gankit.errors import UserError

ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass
class Dist:
    """This process's place among the ranks; `start` sets up the process group."""

    world_size: int
    rank: int
    local_rank: int
    device: Optional[torch.device] = None
    control: Any = None  # a gloo group for flags and small objects (the default one on CPU)
    held: Optional[UserError] = None  # what rank 0 met while writing, until the ranks agree
    wrapped: list = field(default_factory=list)  # the DDP modules, released by `close`

    @property
    def is_rank0(self) -> bool:
        return self.rank == 0

    # --- set-up and tear-down
    def resolve_device(self, name: str) -> torch.device:
        """The config's device for this rank: cuda means cuda:LOCAL_RANK. Call before `start`."""
        from gankit.device import resolve_device

        if name.startswith("cuda:"):
            raise UserError(f"device {name!r} under torchrun: each process uses cuda:LOCAL_RANK; "
                            "use --set device=cuda (or auto)")
        device = resolve_device(name)
        if device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise UserError(f"LOCAL_RANK {self.local_rank} but only {torch.cuda.device_count()} "
                                "GPUs here; start at most that many processes per node")
            return torch.device("cuda", self.local_rank)
        if device.type != "cpu":
            raise UserError(f"torchrun training runs on cpu or cuda, not {device.type}; use --set device=cpu")
        return device

    def start(self, device: torch.device) -> None:
        import torch.distributed as dist

        self.device = device
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
            self.control = dist.new_group(backend="gloo")
        else:
            dist.init_process_group("gloo", timeout=timedelta(minutes=30))
            self.control = dist.group.WORLD

    def close(self) -> None:
        """Release the DDP modules' reducers, then the process group. The order matters: a DDP
        module freed after its group was destroyed can hang in gloo's teardown, and the trainer
        (or a traceback) may keep the modules alive past this point."""
        import gc

        import torch.distributed as dist

        for ddp in self.wrapped:
            for name in ("reducer", "logger"):
                if hasattr(ddp, name):
                    delattr(ddp, name)
            ddp.process_group = None
        self.wrapped.clear()
        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()

    # --- collectives
    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier(group=self.control)

    def gather(self, obj: Any) -> list:
        """Every rank's `obj`, in rank order (tensors should be on the CPU)."""
        import torch.distributed as dist

        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def mean(self, values: list[torch.Tensor]) -> list[torch.Tensor]:
        """The mean over the ranks of each scalar tensor (one all_reduce)."""
        import torch.distributed as dist

        if not values:
            return []
        flat = torch.stack([v.detach().float().reshape(()) for v in values])
        dist.all_reduce(flat)
        return list(flat / self.world_size)

    def all_true(self, flag: bool) -> bool:
        import torch.distributed as dist

        t = torch.tensor([0.0 if flag else 1.0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return t.item() == 0.0

    def agree(self, stop: bool, elapsed: float) -> tuple[bool, float]:
        """(stop anywhere, the longest wall time); raises on every rank the error a rank holds."""
        import torch.distributed as dist

        error, self.held = self.held, None
        t = torch.tensor([float(stop), float(error is not None), elapsed], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        if t[1] > 0:
            raise_first(self.gather(None if error is None else (str(error), error.exit_code)))
        return bool(t[0] > 0), float(t[2])

    def share(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def on_rank0(self, fn: Callable, *args) -> Any:
        """fn(*args) on rank 0 only. A UserError there is held (and later calls skipped) until
        `agree`, so that the ranks' collectives stay in step and every rank then raises it."""
        if not self.is_rank0 or self.held is not None:
            return None
        try:
            return fn(*args)
        except UserError as e:
            self.held = e
            return None

    def on_rank0_at_setup(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on rank 0 only; a UserError there is raised on every rank (used at set-up,
        where the other ranks wait for rank 0's run folder). Returns fn's result on rank 0."""
        result, error = None, None
        if self.is_rank0:
            try:
                result = fn()
            except UserError as e:
                error = (str(e), e.exit_code)
            except Exception as e:  # noqa: BLE001 -- tell the others, then fail with the traceback
                self.gather((f"rank 0 failed: {type(e).__name__}: {e}", 1))
                raise
        raise_first(self.gather(error))
        return result


def is_rank0(dist: Optional[Dist]) -> bool:
    """Whether this process writes the run folder: alone always, under torchrun rank 0."""
    return dist is None or dist.is_rank0


def on_rank0(dist: Optional[Dist], fn: Callable, *args) -> Any:
    """fn(*args) when training alone; under torchrun on rank 0 only, where a UserError is held
    until the ranks next agree (then every rank raises it)."""
    return fn(*args) if dist is None else dist.on_rank0(fn, *args)


def on_rank0_at_setup(dist: Optional[Dist], fn: Callable[[], Any]) -> Any:
    """fn() when alone; under torchrun on rank 0 only (a UserError there ends every rank), None
    on the others."""
    return fn() if dist is None else dist.on_rank0_at_setup(fn)


def raise_first(errors: list) -> None:
    for e in errors:
        if e is not None:
            err = UserError(e[0])
            err.exit_code = e[1]
            raise err


class RankRun:
    """The run folder as one of many ranks sees it: rank 0 writes (a UserError is held, see
    Dist.on_rank0), the others only read. Everything else is the RunFolder's own."""

    WRITES = ("log", "append_metrics", "write_config", "truncate_metrics", "remove_stale_temps")

    def __init__(self, run, dist: Dist):
        self._run, self._dist = run, dist

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._run, name)
        if name in self.WRITES:
            return lambda *a, **kw: self._dist.on_rank0(lambda: attr(*a, **kw))
        return attr


def from_env() -> Optional[Dist]:
    """This process's rank under torchrun, or None when it trains alone (no torchrun, or N=1)."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        world, rank, local = (int(os.environ.get(k, "0")) for k in ENV)
    except ValueError:
        raise UserError(f"torchrun's {'/'.join(ENV)} must be integers, got "
                        f"{', '.join(os.environ.get(k, '') for k in ENV)}") from None
    if world <= 1:
        return None
    if not 0 <= rank < world or local < 0:
        raise UserError(f"RANK {rank} / LOCAL_RANK {local} do not fit WORLD_SIZE {world}; "
                        "start gankit with torchrun")
    return Dist(world, rank, local)


def check(cfg, dist: Dist, n: int) -> None:
    """What a torchrun config must satisfy, checked on every rank before the group starts."""
    bs = min(cfg.batch_size, n)
    if bs % dist.world_size:
        raise UserError(f"batch_size {bs} does not divide by the {dist.world_size} processes; "
                        f"use a multiple of {dist.world_size} (it is the global batch)")
    if (bs // dist.world_size) % cfg.pack:
        raise UserError(f"each process's share of the batch ({bs // dist.world_size}) must be a "
                        f"multiple of pack={cfg.pack}; raise batch_size")


def wrap(module: nn.Module, dist: Dist) -> nn.Module:
    """DDP around `module` (its parameters and buffers are broadcast from rank 0 here)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [dist.device.index] if dist.device.type == "cuda" else None
    ddp = DDP(module, device_ids=ids)
    dist.wrapped.append(ddp)
    return ddp


# --- SyncBatchNorm
class _AllReduce(torch.autograd.Function):
    """A summing all_reduce that gradients flow back through (summed over the ranks likewise)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduce.apply(grad.contiguous())


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training-mode statistics are those of the global batch (every rank's
    slice), like torch.nn.SyncBatchNorm, which supports only GPUs. Each rank sends its count,
    mean and sum of squared deviations in one differentiable all_reduce; gradients flow back
    through it, so D's and G's gradients equal those of one process on the whole batch."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {x.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        import torch.nn.functional as F

        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        world, rank, c = dist.get_world_size(), dist.get_rank(), x.shape[1]
        dims, shape = [0, *range(2, x.dim())], (1, c, *[1] * (x.dim() - 2))
        xf = x.float()
        n = xf.numel() // c
        mean_r = xf.mean(dims)
        m2_r = (xf - mean_r.view(shape)).pow(2).sum(dims)
        row = torch.cat([mean_r, m2_r, xf.new_full((1,), n)])
        # rank r's row in slot r of a (world, 2C + 1) table: one summing all_reduce gathers them
        table = _AllReduce.apply(F.pad(row[None], (0, 0, rank, world - rank - 1)))
        means, m2s, counts = table[:, :c], table[:, c:2 * c], table[:, -1:]
        total = counts.sum()
        mean = (counts * means).sum(0) / total
        # Chan et al.: per-rank sums of squared deviations plus the spread of the rank means
        var = (m2s.sum(0) + (counts * (means - mean).pow(2)).sum(0)) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `module` becomes a SyncBatchNorm that keeps the same parameters and
    buffers (so optimizers and checkpoints see no difference)."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        new = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, sync_batchnorm(child, device))
    return module
