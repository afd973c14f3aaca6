"""Drawing samples from an algorithm's networks, and the samples file contract.

`draw` takes latents from a seed on the CPU in fixed batches, so the same seed gives the same
samples on any device. A samples .npz (`gankit sample`) holds `images` uint8 (N, H, W) or
(N, H, W, C), or `points` float32 (N, 2), and `labels` int64 (N,) for conditional models.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from gankit.data.base import DataInfo, to_uint8
from gankit.errors import UserError
from gankit.progress import Work


def read_samples(path: str | Path) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """A samples .npz (the `gankit sample` contract) as (x, labels or None).

    x: uint8 (N, C, H, W) from `images` (N, H, W) or (N, H, W, C), or float32 (N, D) from `points`.
    """
    path = Path(path)
    try:
        loaded = np.load(path)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a lone .npy array
            raise UserError(f"{path} is a single .npy array, not an .npz of named arrays; pass a file written "
                            "by `gankit sample`, or save yours with np.savez(path, images=...)")
        with loaded as f:
            files = set(f.files)
            key = "images" if "images" in files else "points" if "points" in files else None
            if key is None:
                raise UserError(f"{path} has no `images` or `points` array (it has: {', '.join(sorted(files))})")
            arr = np.asarray(f[key])
            labels = np.asarray(f["labels"]) if "labels" in files else None
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # missing, cut short, pickled
        raise UserError(f"cannot read {path} as .npz ({type(e).__name__}); pass a file written by "
                        "`gankit sample`") from None
    if key == "images":
        if arr.dtype != np.uint8:
            raise UserError(f"{path}: `images` must be uint8, got {arr.dtype}")
        if arr.ndim == 3:
            arr = arr[:, None]
        elif arr.ndim == 4:
            arr = arr.transpose(0, 3, 1, 2)
        else:
            raise UserError(f"{path}: `images` must be (N, H, W) or (N, H, W, C), got shape {arr.shape}")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
            raise UserError(f"{path}: `points` must be float (N, D), got {arr.dtype} {arr.shape}")
        x = torch.from_numpy(arr.astype(np.float32))
    if labels is not None:
        if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
            raise UserError(f"{path}: `labels` must be integers of shape ({len(x)},), got {labels.dtype} {labels.shape}")
        labels = torch.from_numpy(labels.astype(np.int64))
    return x, labels


def labels_for(n: int, info: DataInfo, label: Optional[int], all_labels: bool,
               conditional: bool) -> Optional[torch.Tensor]:
    """The labels to ask a conditional generator for: one class, or 0..K-1 cycling."""
    if not conditional:
        if label is not None or all_labels:
            raise UserError("this model is not class-conditional; drop --label/--labels")
        return None
    k = info.num_classes
    if label is not None:
        if not 0 <= label < k:
            raise UserError(f"--label must be in 0..{k - 1} for this model")
        return torch.full((n,), label, dtype=torch.int64)
    return torch.arange(n, dtype=torch.int64) % k


@torch.no_grad()
def draw(algo, nets: dict, n: int, seed: int, labels: Optional[torch.Tensor] = None,
         code: Optional[dict] = None, batch_size: int = 500, with_codes: bool = False):
    """n samples as model-range floats, (n, C, H, W) or (n, D): latents drawn on the CPU from
    `seed`, batch by batch (`code` fixes latent codes in them), then `algo.generate(nets, z,
    labels)` on the networks' device. with_codes: (samples, their categorical codes or None)."""
    device = next(nets[algo.sampler].parameters()).device
    g = torch.Generator().manual_seed(seed)
    out, codes = [], []
    with Work(f"drawing {n} samples", n, "sample") as work:
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            z = algo.latents(m, g)
            if code:
                z = algo.with_codes(z, code)
            c = algo.codes_of(z)
            if c is not None:
                codes.append(c)
            lab = labels[i:i + m].to(device) if labels is not None else None
            out.append(algo.generate(nets, z.to(device), lab).float().cpu())
            work.update(m)
    x = torch.cat(out) if out else torch.empty(0)
    if not with_codes:
        return x
    return x, (torch.cat(codes) if codes else None)


def parse_code(text: str) -> dict[str, float]:
    """`cat=3,c1=0.5` -> {"cat": 3.0, "c1": 0.5} (the algorithm checks the names and ranges)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = part.partition("=")
        try:
            number = float(value) if eq else math.nan
            if not math.isfinite(number):
                raise ValueError
            out[name.strip()] = number
        except ValueError:
            raise UserError(f"--code takes name=value pairs separated by commas, like cat=3,c1=0.5; "
                            f"got {part!r}") from None
    if not out:
        raise UserError("--code is empty; give name=value pairs like cat=3,c1=0.5")
    return out


@contextmanager
def eval_mode(*modules: torch.nn.Module):
    """The modules in eval mode (batch-norm running statistics) for the block, then each back to
    the mode it was in."""
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, w in zip(modules, was):
            m.train(w)


def to_npz_images(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for grey or (N, H, W, C) for colour."""
    u = to_uint8(x)
    return u[:, 0].numpy() if u.shape[1] == 1 else u.permute(0, 2, 3, 1).numpy()
