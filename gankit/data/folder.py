"""`folder`: any directory of images (PNG, JPEG, BMP, GIF, WebP, TIFF: whatever Pillow reads).

Layouts:
  DIR/<class>/...images...  each subfolder that holds readable images is a class (sorted names ->
                            labels 0..K-1; searched recursively); files directly in DIR are skipped;
  DIR/...images...          no such subfolders: unlabelled (labels None, num_classes 0).
Every image is scaled so its shorter side is spec.image_size (default 64) and centre-cropped to a
square. Channels: spec.channels (1 grey, 3 RGB), or when None, grey if every image is grey, else
RGB. Hidden files and folders (".name") are ignored; files Pillow cannot read are skipped and
listed in one line on stderr; a folder with no readable image at all is a UserError.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from gankit.data.base import DataSpec, Dataset
from gankit.data.registry import register
from gankit.data.transforms import check_image_size, check_split, fit_square
from gankit.errors import UserError

DEFAULT_SIZE = 64
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
MAX_NAMES_SHOWN = 5


def _visible_files(folder: Path, recursive: bool) -> list[Path]:
    """Non-hidden regular files under `folder` (not inside hidden folders), sorted for a stable order."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
        if not recursive:
            break
    return found


def _to_l_or_rgb(img: Image.Image) -> tuple[Image.Image, bool]:
    """Convert to "L" or "RGB" (which of the two the file was). Alpha is dropped."""
    mode = img.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16/32-bit or float grey: Pillow's convert("L") would clip everything above 255, so
        # rescale: 16-bit range when values exceed 255, else keep them as they are
        arr = np.asarray(img, dtype=np.float64)
        if arr.size and arr.max() > 255:
            arr = arr * (255.0 / 65535.0)
        return Image.fromarray(np.rint(arr).clip(0, 255).astype(np.uint8), "L"), True
    if mode in GREY_MODES:
        return img.convert("L"), True
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # avoids Pillow's warning about palette transparency
    return img.convert("RGB"), False


def _read(path: Path, size: int) -> Optional[tuple[Image.Image, bool]]:
    """(square image in "L" or "RGB", whether it was grey), or None if Pillow cannot read it."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger
            img.load()
            img, grey = _to_l_or_rgb(img)
            return fit_square(img, size), grey
    except Exception:  # noqa: BLE001 - Pillow raises many types for broken files; all mean "skip"
        return None


def _load_all(files: list[Path], size: int) -> list[Optional[tuple[Image.Image, bool]]]:
    # Pillow releases the GIL while decoding and resizing, so threads help with many files
    workers = min(8, os.cpu_count() or 1, max(1, len(files) // 64))
    if workers == 1:
        return [_read(f, size) for f in files]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: _read(f, size), files))


def _warn(what: str, names: list[str]) -> None:
    """One line on stderr: "<what> 3 files: a.txt, b.png, c.gif" (at most 5 names shown)."""
    if not names:
        return
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    more = f", and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    print(f"{what.format(n=len(names))}: {shown}{more}", file=sys.stderr)


@register("folder", "your own images: --data-dir DIR with images, or one subfolder of images per class")
def load_folder(spec: DataSpec) -> Dataset:
    """x: uint8 (N, C, S, S) with S = spec.image_size or 64 and C = 1 or 3; labels int64 (N,) or None."""
    check_split("folder", spec.split, ("train",))  # one folder is one split; no held-out part
    size = check_image_size(spec.image_size) or DEFAULT_SIZE
    if spec.channels not in (None, 1, 3):
        raise UserError(f"channels must be 1 (grey) or 3 (RGB), not {spec.channels!r}")
    if spec.data_dir is None:
        raise UserError("the folder dataset needs --data-dir DIR (a folder of images)")
    root = Path(spec.data_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"--data-dir {root}: no such folder")

    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, _visible_files(d, recursive=True)) for d in subdirs]
    per_class = [(n, fs) for n, fs in per_class if fs]
    root_files = _visible_files(root, recursive=False)
    labelled = bool(per_class)
    files = [f for _, fs in per_class for f in fs] if labelled else root_files
    owner = [i for i, (_, fs) in enumerate(per_class) for _ in fs] if labelled else [0] * len(files)
    # in the class layout, loose files in the root belong to no class: say so rather than guess
    loose = [f.name for f in root_files] if labelled else []
    skipped = []

    images, classes, grey_all = [], [], True
    for f, c, got in zip(files, owner, _load_all(files, size)):
        if got is None:
            skipped.append(str(f.relative_to(root)))
            continue
        images.append(got[0])
        classes.append(c)
        grey_all &= got[1]
    _warn("skipped {n} unreadable files", skipped)
    _warn("ignored {n} files outside the class folders", loose)
    if not images:
        raise UserError(f"--data-dir {root}: no readable images in it (PNG, JPEG, BMP, GIF, WebP, ...)")

    channels = spec.channels or (1 if grey_all else 3)
    mode = "L" if channels == 1 else "RGB"
    arr = np.stack([np.asarray(im.convert(mode) if im.mode != mode else im) for im in images])
    x = torch.from_numpy(arr)
    x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2).contiguous()  # (N, C, S, S)

    labels, names = None, []
    if labelled:
        # renumber so that only classes with at least one readable image get a label
        used = sorted(set(classes))
        remap = {c: i for i, c in enumerate(used)}
        labels = torch.tensor([remap[c] for c in classes], dtype=torch.int64)
        names = [per_class[c][0] for c in used]
    return Dataset(
        "folder",
        x=x,
        labels=labels,
        num_classes=len(names),
        class_names=names,
        kind="image",
        source=str(root),
    )
