"""Helpers the loaders share: resizing images and checking the options in a `DataSpec`."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from gankit.errors import UserError

SPLITS = ("train", "test")


def check_split(dataset: str, split: str, splits: Sequence[str] = SPLITS) -> str:
    """Return `split` if `dataset` has it, else a UserError naming the splits it has."""
    if split not in splits:
        raise UserError(
            f"dataset {dataset!r} has no split {split!r}; use one of: {', '.join(splits)}"
        )
    return split


def check_image_size(size: Optional[int]) -> Optional[int]:
    """Return `size` (None or a positive int), else a UserError."""
    if size is None:
        return None
    # bool is an int subclass; True as an image size is certainly a mistake
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size > 4096:
        raise UserError(f"image size must be a whole number from 1 to 4096, not {size!r}")
    return size


def resize_uint8(x: torch.Tensor, size: Optional[int]) -> torch.Tensor:
    """Resize a batch of square-or-not images to size x size with antialiased bilinear filtering.

    x: uint8 (N, C, H, W) -> uint8 (N, C, size, size). `size` None or equal to H and W: x unchanged.
    Runs on the whole batch at once: torch resizes uint8 directly (about 0.5 s for 60000 MNIST
    images to 64x64 on two cores), with a float fallback for builds that lack the uint8 kernel.
    """
    size = check_image_size(size)
    if size is None or tuple(x.shape[-2:]) == (size, size) or len(x) == 0:
        return x
    try:
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    except (RuntimeError, NotImplementedError):
        # float path in chunks, so that 60000 images at 64x64 do not need 1 GB of float32 at once
        out = torch.empty((*x.shape[:2], size, size), dtype=torch.uint8)
        for i in range(0, len(x), 4096):
            y = F.interpolate(
                x[i : i + 4096].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
            out[i : i + 4096] = y.round_().clamp_(0, 255).to(torch.uint8)
        return out


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Scale `img` so its shorter side is `size`, then crop the centre to size x size.

    Works on any mode Pillow can resize ("L", "RGB", ...); the result keeps the mode.
    """
    w, h = img.size
    if (w, h) == (size, size):
        return img
    scale = size / min(w, h)
    # round, but never below `size`, so the crop below always has enough pixels
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    # reducing_gap: decode-time shrinking for very large images, then an exact bicubic pass
    img = img.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))
