"""Using a trained generator: load it from a run folder, sample, interpolate.

Only the run folder is read (config.json and a checkpoint), never the training command line, so a
folder copied to another machine works the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from gankit.data.base import DataInfo, to_uint8
from gankit.errors import UserError
from gankit.latent import interpolation_latents, lerp
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training.device import resolve_device


def load_generator(run_path: str | Path, which: str = "last", device: str = "cpu",
                   ema: bool = True) -> tuple[nn.Module, object, DataInfo]:
    """(G in eval mode, TrainConfig, DataInfo). Uses the EMA weights when the run kept them."""
    from gankit.training.loop import build_models

    run = RunFolder.open(run_path)
    cfg, info = run.read_config()
    G, _ = build_models(cfg, info)
    tensors, _meta = ckpt.load(run.checkpoint(which))
    prefix = "G_ema" if ema and any(k.startswith("G_ema.") for k in tensors) else "G"
    ckpt.load_module(prefix, G, tensors)
    return G.to(resolve_device(device)).eval(), cfg, info


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
def generate(G: nn.Module, n: int, z_dim: int, labels: Optional[torch.Tensor], seed: int,
             batch_size: int = 500) -> torch.Tensor:
    """n samples as model-range floats: (n, C, H, W) or (n, D); z drawn on the CPU from `seed`."""
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        m = min(batch_size, n - i)
        z = torch.randn(m, z_dim, generator=g).to(device)
        lab = labels[i:i + m].to(device) if labels is not None else None
        out.append(G(z, lab).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def to_npz_images(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for grey or (N, H, W, C) for colour."""
    u = to_uint8(x)
    return u[:, 0].numpy() if u.shape[1] == 1 else u.permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def interpolation_grid(G: nn.Module, z_dim: int, info: DataInfo, conditional: bool, rows: int,
                       steps: int, slerp: bool, seed: int) -> torch.Tensor:
    """(rows*steps, C, H, W): each row walks between two random latents. For conditional models
    the first half of the rows walk between classes (label a -> b at a fixed z, soft one-hot),
    the rest between latents at a fixed class."""
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    z = interpolation_latents(rows, steps, z_dim, g, slerp).to(device)
    if not conditional:
        return G(z).float().cpu()
    k = info.num_classes
    t = torch.linspace(0, 1, steps)
    labels = []
    half = rows // 2
    for r in range(rows):
        a, b = r % k, (r + 1) % k
        if r < half:  # class walk at the row's start latent
            z[r * steps:(r + 1) * steps] = z[r * steps]
            ea, eb = torch.eye(k)[a][None], torch.eye(k)[b][None]
            labels.append(lerp(ea, eb, t)[0])
        else:
            labels.append(torch.eye(k)[a].expand(steps, k))
    return G(z, torch.cat(labels).to(device)).float().cpu()
