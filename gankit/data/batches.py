"""Batches of named fields, drawn by a seeded sampler whose whole state is (epoch, pos).

A dataset's items are named fields of equal length: "x" (images uint8 (N, C, H, W) or points
float32 (N, D)) and "label" (int64 (N,)) today; input/target pairs or two domains later. Fields
live on the training device when they fit (`DEVICE_BYTES`), else in pinned CPU memory and each
batch is copied over. A batch is {name: field[idx]} after the per-batch transform: images go to
model range [-1, 1] (and channels_last when asked); an algorithm may add its own transform
(random crops, low-resolution copies).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from gankit.data.base import to_model_range

DEVICE_BYTES = 2 * 2**30  # fields larger than this stay in CPU memory on an accelerator


class BatchSampler:
    """Shuffled batches by index; the permutation of epoch e is a pure function of (seed, e), so
    the sampler's whole state is (epoch, pos) and resume needs nothing else. Under torchrun
    every rank walks the same batches (`bs` is the global batch) and takes its slice `rank` of
    `world` equal parts of each."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int = 0, pos: int = 0,
                 rank: int = 0, world: int = 1):
        self.n, self.bs, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.bs  # the last partial batch is dropped (batch norm dislikes tiny batches)
        self.epoch, self.pos = epoch, pos
        self.rank, self.world = rank, world
        self._perm: Optional[Tensor] = None

    def next(self) -> Tensor:
        if self._perm is None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._perm = torch.randperm(self.n, generator=g)
        idx = self._perm[self.pos * self.bs:(self.pos + 1) * self.bs]
        if self.world > 1:
            share = self.bs // self.world
            idx = idx[self.rank * share:(self.rank + 1) * share]
        self.pos += 1
        if self.pos == self.per_epoch:
            self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
        return idx

    def progress(self) -> float:
        """Epochs done, with the current one's fraction."""
        return self.epoch + self.pos / self.per_epoch


class Batches:
    """The fields of a dataset on (or for) one device, and how a batch is made of them."""

    def __init__(self, fields: dict[str, Tensor], device: torch.device,
                 memory_format: Optional[torch.memory_format] = None):
        self.device, self.memory_format = device, memory_format
        self.transforms: list[Callable[[dict[str, Tensor]], dict[str, Tensor]]] = []
        self.set_fields(fields)

    def set_fields(self, fields: dict[str, Tensor]) -> None:
        sizes = {len(v) for v in fields.values()}
        if len(sizes) != 1:
            raise ValueError(f"fields of unequal length: { {k: len(v) for k, v in fields.items()} }")
        total = sum(v.numel() * v.element_size() for v in fields.values())
        self.on_device = self.device.type == "cpu" or total <= DEVICE_BYTES
        where = self.device if self.on_device else torch.device("cpu")
        self.fields = {k: v.to(where) for k, v in fields.items()}
        if not self.on_device and torch.cuda.is_available():
            self.fields = {k: v.pin_memory() for k, v in self.fields.items()}

    def __len__(self) -> int:
        return len(next(iter(self.fields.values())))

    def take(self, idx: Tensor) -> dict[str, Tensor]:
        """The batch of items `idx`: every field indexed, then the transforms."""
        idx = idx.to(self.device) if self.on_device else idx
        batch = {k: v[idx] for k, v in self.fields.items()}
        if not self.on_device:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        x = batch.get("x")
        if x is not None:
            x = to_model_range(x)
            if self.memory_format is not None:
                x = x.contiguous(memory_format=self.memory_format)
            batch["x"] = x
        for t in self.transforms:
            batch = t(batch)
        return batch
