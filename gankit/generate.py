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
from gankit.latent import slerp as _slerp
from gankit.models.selfcond import SelfConditionedG
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training.device import resolve_device


def load_models(run_path: str | Path, which: Optional[str] = None, device: str = "cpu",
                ema: bool = True) -> tuple[nn.Module, nn.Module, object, DataInfo, dict]:
    """(G in eval mode, D, TrainConfig, DataInfo, checkpoint metadata plus "checkpoint": the name
    read and "ema": whether G holds the EMA weights). `which`: best or last (default: best if kept)."""
    from gankit.training.loop import build_models

    run = RunFolder.open(run_path)
    cfg, info = run.read_config()
    G, D = build_models(cfg, info)
    which = which or default_checkpoint(run)
    tensors, meta = ckpt.load(run.checkpoint(which))
    use_ema = ema and any(k.startswith("G_ema.") for k in tensors)
    ckpt.load_module("G_ema" if use_ema else "G", G, tensors)
    ckpt.load_module("D", D, tensors)
    device = resolve_device(device)
    return G.to(device).eval(), D.to(device), cfg, info, {**meta, "checkpoint": which, "ema": use_ema}


def load_generator(run_path: str | Path, which: Optional[str] = None, device: str = "cpu",
                   ema: bool = True) -> tuple[nn.Module, object, DataInfo]:
    """(G in eval mode, TrainConfig, DataInfo). Uses the EMA weights when the run kept them."""
    G, _, cfg, info, _ = load_models(run_path, which, device, ema)
    return G, cfg, info


def default_checkpoint(run: RunFolder) -> str:
    """`best` when the run kept one (training with eval_every), else `last`."""
    return "best" if run.checkpoint("best").is_file() else "last"


def read_samples(path: str | Path) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """A samples .npz (the `gankit sample` contract) as (x, labels or None).

    x: uint8 (N, C, H, W) from `images` (N, H, W) or (N, H, W, C), or float32 (N, D) from `points`.
    """
    path = Path(path)
    try:
        with np.load(path) as f:
            files = set(f.files)
            key = "images" if "images" in files else "points" if "points" in files else None
            if key is None:
                raise UserError(f"{path} has no `images` or `points` array (it has: {', '.join(sorted(files))})")
            arr = np.asarray(f[key])
            labels = np.asarray(f["labels"]) if "labels" in files else None
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as e:
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
    the rest between latents at a fixed class. A self-conditioned G walks from one endpoint's
    latent and cluster to the other's (the cluster as a soft one-hot)."""
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    z = interpolation_latents(rows, steps, z_dim, g, slerp).to(device)
    if isinstance(G, SelfConditionedG):  # walk between the endpoints' (latent, cluster) pairs
        (za, ca), (zb, cb) = G.split(z[::steps]), G.split(z[steps - 1::steps])
        t = torch.linspace(0, 1, steps, device=device)
        path = (_slerp if slerp else lerp)(za, zb, t).reshape(rows * steps, z_dim)
        eye = torch.eye(G.num_clusters, device=device)
        soft = lerp(eye[ca], eye[cb], t).reshape(rows * steps, G.num_clusters)
        return G(path, soft).float().cpu()
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
