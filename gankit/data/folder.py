"""`folder`: any directory of images (PNG, JPEG, BMP, GIF, WebP, TIFF: whatever Pillow reads).

Layouts:
  DIR/<class>/...images...  each subfolder that holds readable images is a class (sorted names ->
                            labels 0..K-1; searched recursively); files directly in DIR are skipped;
  DIR/...images...          no such subfolders: unlabelled (labels None, num_classes 0).
  DIR/train/, DIR/test/     split layout: split "train" reads train/, split "test" reads test/,
                            each laid out as above (both flat or both with class subfolders).
                            Labels follow train/'s class names; test/ may hold a subset of them.
Without train/ and test/ the whole folder is split "train" and there is no "test" split.
Every image is scaled so its shorter side is spec.image_size (default 64) and centre-cropped to a
square. Channels: spec.channels (1 grey, 3 RGB), or when None, grey if every image is grey, else
RGB (in the split layout: grey only if every image of train/ and test/ is grey, so that both
splits load with the same channels). Transparent pixels become white, a camera's EXIF orientation
is applied, and 16-bit images use their full range. Hidden files and folders (".name") are
ignored; files Pillow cannot read are skipped and listed in one line on stderr; a folder with no
readable image at all is a UserError.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.data.base import ClassifierRecipe, DataSpec, Dataset
from gankit.data.registry import register
from gankit.data.transforms import check_image_size, check_split, fit_square
from gankit.errors import UserError

DEFAULT_SIZE = 64
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
MAX_NAMES_SHOWN = 5
SPLIT_DIRS = ("train", "test")
BACKGROUND = (255, 255, 255)  # under transparent pixels: white, as images with alpha are usually shown


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
    """Convert to "L" or "RGB" (which of the two the file was). Transparent pixels show
    BACKGROUND (what lies under alpha 0 in the file is arbitrary, often black)."""
    mode = img.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16/32-bit or float grey: Pillow's convert("L") would clip everything above 255. 16-bit
        # files use their full range (/257, whatever the image's own maximum); 32-bit integers
        # above 255 are taken as 16-bit data; floats in [0, 1] are fractions of white
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size else 0.0
        if mode.startswith("I;16") or (mode == "I" and top > 255):
            arr = arr * (255.0 / 65535.0)
        elif mode == "F" and top <= 1.0:
            arr = arr * 255.0
        return Image.fromarray(np.rint(arr).clip(0, 255).astype(np.uint8), "L"), True
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # avoids Pillow's warning about palette transparency
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        grey = img.mode in ("LA", "La")
        img = img.convert("RGBA")
        flat = Image.new("RGBA", img.size, BACKGROUND + (255,))
        flat.alpha_composite(img)
        return (flat.convert("L"), True) if grey else (flat.convert("RGB"), False)
    if mode in GREY_MODES:
        return img.convert("L"), True
    return img.convert("RGB"), False


def _read(path: Path, size: int) -> Optional[tuple[Image.Image, bool]]:
    """(square image in "L" or "RGB", whether it was grey), or None if Pillow cannot read it."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger
            img.load()
            img = ImageOps.exif_transpose(img)  # a camera's orientation tag: upright, as viewers show it
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


def has_splits(root: Path) -> bool:
    """Whether `root` uses the split layout: a train/ and a test/ subfolder."""
    return all((Path(root) / s).is_dir() for s in SPLIT_DIRS)


def listing(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size in bytes, mtime in ns) of every visible file under `root`, sorted.

    A cheap fingerprint of what the folder dataset reads (stat only, no decoding): caches keyed on
    it notice files added, removed or rewritten.
    """
    root = Path(root)
    out = []
    for f in _visible_files(root, recursive=True):
        try:
            st = f.stat()
        except OSError:  # vanished or a broken link: not data either way
            continue
        out.append((f.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def class_names(root: Path) -> list[str]:
    """The class names `root` is labelled by (train/'s in the split layout), from the folder names
    alone (nothing decoded); [] when unlabelled."""
    root = Path(root)
    return [n for n, _ in _layout(root / "train" if has_splits(root) else root)[0]]


def _layout(folder: Path) -> tuple[list[tuple[str, list[Path]]], list[Path]]:
    """([(class name, its files)] for subfolders holding files, files directly in `folder`)."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, _visible_files(d, recursive=True)) for d in subdirs]
    return [(n, fs) for n, fs in per_class if fs], _visible_files(folder, recursive=False)


def _image_files(folder: Path) -> list[Path]:
    """The files the loader reads in `folder`: the class folders' files, else the loose ones."""
    per_class, root_files = _layout(folder)
    return [f for _, fs in per_class for f in fs] if per_class else root_files


def _headers_grey(files: list[Path]) -> bool:
    """Whether every file Pillow can open is grey, from the headers alone (nothing decoded)."""
    for f in files:
        try:
            with Image.open(f) as img:
                mode = img.mode
        except Exception:  # noqa: BLE001 - unreadable files are skipped by the loader too
            continue
        if mode not in GREY_MODES:
            return False
    return True


@register("folder", "your own images: --data-dir DIR with images, or one subfolder of images per class",
          classifier=ClassifierRecipe(per_content=True))
def load_folder(spec: DataSpec) -> Dataset:
    """x: uint8 (N, C, S, S) with S = spec.image_size or 64 and C = 1 or 3; labels int64 (N,) or None."""
    check_split("folder", spec.split, SPLIT_DIRS)
    size = check_image_size(spec.image_size) or DEFAULT_SIZE
    if spec.channels not in (None, 1, 3):
        raise UserError(f"channels must be 1 (grey) or 3 (RGB), not {spec.channels!r}")
    if spec.data_dir is None:
        raise UserError("the folder dataset needs --data-dir DIR (a folder of images)")
    root = Path(spec.data_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"--data-dir {root}: no such folder")
    if not has_splits(root):
        if spec.split != "train":
            raise UserError(f"--data-dir {root} has no test split: put the training images in {root / 'train'} "
                            f"and held-out images in {root / 'test'} (same class subfolders)")
        return _load_dir(root, size, spec.channels)

    # split layout: the class list is train/'s, and test/ must use the same names
    train_classes = [n for n, _ in _layout(root / "train")[0]]
    test_classes = [n for n, _ in _layout(root / "test")[0]]
    if bool(train_classes) != bool(test_classes):
        has, lacks = ("train", "test") if train_classes else ("test", "train")
        raise UserError(f"--data-dir {root}: {has}/ has class subfolders but {lacks}/ has none; "
                        "give both the same class subfolders (or make both flat)")
    extra = sorted(set(test_classes) - set(train_classes))
    if extra:
        shown = ", ".join(extra[:MAX_NAMES_SHOWN]) + (", ..." if len(extra) > MAX_NAMES_SHOWN else "")
        raise UserError(f"--data-dir {root}: test/ has classes that train/ lacks ({shown}); "
                        "use the class subfolder names of train/")
    ds = _load_dir(root / spec.split, size, spec.channels, train_classes or None, spec.split == "train")
    if spec.channels is None and ds.x.shape[1] == 1:
        other = root / ("test" if spec.split == "train" else "train")
        if not _headers_grey(_image_files(other)):  # colour in the other split: both load as RGB
            ds.x = ds.x.expand(-1, 3, -1, -1).contiguous()
    return ds


def _load_dir(root: Path, size: int, channels: Optional[int], classes: Optional[list[str]] = None,
              every_class: bool = False) -> Dataset:
    """One folder as a dataset. `classes`: the fixed class list (split layout), labels are indices
    into it and each class in `root` must be one of them; None: the classes found here.
    `every_class`: each class folder must hold a readable image (the train split of the layout)."""
    per_class, root_files = _layout(root)
    labelled = bool(per_class)
    files = [f for _, fs in per_class for f in fs] if labelled else root_files
    owner = [i for i, (_, fs) in enumerate(per_class) for _ in fs] if labelled else [0] * len(files)
    # in the class layout, loose files in the root belong to no class: say so rather than guess
    loose = [f.name for f in root_files] if labelled else []
    skipped = []

    images, owners, grey_all = [], [], True
    for f, c, got in zip(files, owner, _load_all(files, size)):
        if got is None:
            skipped.append(str(f.relative_to(root)))
            continue
        images.append(got[0])
        owners.append(c)
        grey_all &= got[1]
    _warn("skipped {n} unreadable files", skipped)
    _warn("ignored {n} files outside the class folders", loose)
    if not images:
        raise UserError(f"--data-dir {root}: no readable images in it (PNG, JPEG, BMP, GIF, WebP, ...)")

    channels = channels or (1 if grey_all else 3)
    mode = "L" if channels == 1 else "RGB"
    arr = np.stack([np.asarray(im.convert(mode) if im.mode != mode else im) for im in images])
    x = torch.from_numpy(arr)
    x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2).contiguous()  # (N, C, S, S)

    labels, names = None, []
    if labelled and classes is not None:
        # fixed class list: a train class without one readable image would be a label with no data
        found = set(owners)
        empty = [n for i, (n, _) in enumerate(per_class) if i not in found]
        if empty and every_class:
            raise UserError(f"{root / empty[0]}: no readable images in this class folder; fix or remove it")
        index = {n: i for i, n in enumerate(classes)}
        labels = torch.tensor([index[per_class[c][0]] for c in owners], dtype=torch.int64)
        names = list(classes)
    elif labelled:
        # renumber so that only classes with at least one readable image get a label
        used = sorted(set(owners))
        remap = {c: i for i, c in enumerate(used)}
        labels = torch.tensor([remap[c] for c in owners], dtype=torch.int64)
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
