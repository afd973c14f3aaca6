"""Will a run fit in memory? An upper-bound estimate, checked before anything is allocated, and
one line naming the setting to lower when memory runs out anyway.

The estimate, in bytes:
- weights: the networks' parameters counted exactly (built on PyTorch's "meta" device, which
  allocates nothing) x 4 bytes x 5: the weights, their gradients, two optimizer moments, an EMA.
- activations: what one training step keeps for the backward pass. A conv network keeps at most
  3 tensors per layer (conv, norm, activation) of at most width x H x W numbers per image at each
  of its (depth + 1) blocks of a stage, summed over the stages of halving size (< 2x the first):
  6 x (depth + 1) x width x H x W floats per image per network, for a batch through each network
  and one more (D judges a real and a fake batch), in float32. Grids
  (grid_size images, no gradients) and evaluation (500 at a time) are counted the same way when
  larger. An MLP on points: 3 x 1024 floats per layer of at most 1024 units.
- data: the training set as the batches hold it (uint8 images, float32 points).
"""

from __future__ import annotations

import torch

from gankit.errors import UserError

GiB = 2**30


def estimate(cfg, spec, info, n_items: int) -> dict[str, int]:
    """{"weights": bytes, "activations": bytes, "data": bytes} for this config on this data."""
    try:
        with torch.device("meta"):
            algo = spec.make(cfg, info)
        params = sum(p.numel() for net in algo.networks.values() for p in net.parameters())
        nets = len(algo.networks)
    except (RuntimeError, NotImplementedError, TypeError):  # a network that cannot be built on meta
        params, nets = 0, 2
    if info.kind == "image":
        c, h, w = info.shape
        per_image = 6 * (cfg.depth + 1) * max(cfg.width, c) * h * w
        item_bytes = c * h * w
    else:
        per_image = 3 * 1024 * 4
        item_bytes = 4 * info.shape[0]
    images = max(cfg.batch_size * (nets + 1), cfg.grid_size, 500)  # D sees a real and a fake batch
    return {"weights": 4 * 5 * params, "activations": 4 * per_image * images, "data": item_bytes * n_items}


def available(device: torch.device) -> int:
    """Bytes free for the run on `device` (None where it cannot be told)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def lower(cfg, part: str) -> str:
    """The settings that shrink `part` of the estimate, with their values."""
    keys = {"weights": ("width", "z_dim", "depth"), "activations": ("batch_size", "width", "image_size", "grid_size"),
            "data": ("image_size",)}[part]
    return " or ".join(f"{k} ({getattr(cfg, k)})" for k in keys if getattr(cfg, k) is not None)


def check(cfg, spec, info, n_items: int, device: torch.device) -> None:
    """Refuse, before anything is allocated, a run whose estimate exceeds the free memory."""
    parts = estimate(cfg, spec, info, n_items)
    free = available(device)
    need = sum(parts.values())
    if free is None or need <= free:
        return
    biggest = max(parts, key=parts.get)
    shown = ", ".join(f"{k} {v / GiB:.1f}" for k, v in parts.items())
    raise UserError(f"this run would need about {need / GiB:.1f} GiB ({shown}) but {device.type} has "
                    f"{free / GiB:.1f} GiB free; lower {lower(cfg, biggest)}")


def is_out_of_memory(e: BaseException) -> bool:
    """Whether an exception is an allocation failure (CPU or accelerator)."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(s in text for s in (
        "out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory"))


def out_of_memory_error(cfg, step: int, kept: str) -> UserError:
    """The one line for a run that ran out of memory at `step`; kept: what the last checkpoint holds."""
    return UserError(f"out of memory at step {step}; {kept}; start a new run with lower "
                     f"{lower(cfg, 'activations')} (or free memory and `gankit train --resume`)")
