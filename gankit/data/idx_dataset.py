"""Datasets stored as IDX files (MNIST's layout): what each expects, where its files are, loading.

An `IdxDataset` describes one dataset: its image side, items per split, file names, the MD5s of
the uncompressed files, its classes, where else to look and where to download from. `register_idx`
puts it into DATASETS; `load_idx_dataset` finds, checks and loads a split.

Where the files are looked for, in order (the first folder that has both files of the split wins):
  1. `spec.data_dir` and `spec.data_dir/<name>`; when data_dir is given, nothing else is searched;
  2. `$GANKIT_DATA/<name>`, then `$GANKIT_DATA` itself;
  3. the user cache, `paths.data_cache_dir(name)` (where downloads go);
  4. the dataset's `system_dirs` (Fashion-MNIST: Debian's /usr/share/datasets/fashion-mnist).
If none has them, `spec.download` is true and the dataset has mirrors, the .gz files are fetched
into the cache (idx_download.py). Every file is checked: IDX structure, type, shape, count, label
range and the MD5 of the uncompressed content (uncompressed, because repackagers such as Debian
recompress the .gz files). Files that are another IDX dataset's (by MD5) are skipped and named.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import torch

from gankit import paths
from gankit.data.base import ClassifierRecipe, DataSpec, Dataset, DatasetEntry
from gankit.data.idx import find_idx, parse_idx, read_idx_bytes
from gankit.data.idx_download import download
from gankit.data.registry import DATASETS
from gankit.data.transforms import check_split, resize_uint8
from gankit.errors import UserError


def standard_files(test_prefix: str = "t10k") -> dict[str, tuple[str, str]]:
    """MNIST's file stems, split -> (images, labels); other datasets use another test prefix."""
    return {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": (f"{test_prefix}-images-idx3-ubyte", f"{test_prefix}-labels-idx1-ubyte"),
    }


@dataclass(frozen=True)
class IdxDataset:
    """One dataset of grey square images with labels, stored as an images and a labels IDX file
    per split.

    name: the registry name, also the subfolder looked for under data folders.
    title: the name in messages ("MNIST").
    summary: what it is, the start of its `gankit datasets` line.
    image_side: images are uint8 (N, image_side, image_side); labels are uint8 (N,).
    split_sizes: items per split; a split not listed is not counted.
    files: split -> (images stem, labels stem), each also found as .gz and dotted (`idx_names`).
    md5: stem -> MD5 of the uncompressed file; a stem not listed is not checked.
    class_names: one per class; labels are in 0..len-1.
    mirrors: base URLs that serve <stem>.gz; empty when there is no public download.
    system_dirs: folders searched after the cache (a system package's install folder).
    classifier: how its domain classifier is trained (None: it has none).
    """

    name: str
    title: str
    summary: str
    image_side: int
    split_sizes: Mapping[str, int]
    files: Mapping[str, tuple[str, str]]
    md5: Mapping[str, str]
    class_names: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[Path, ...] = ()
    classifier: Optional[ClassifierRecipe] = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def description(self) -> str:
        """The `gankit datasets` line."""
        side, sizes = self.image_side, self.split_sizes
        counts = " / ".join(f"{sizes[s]} {s}" for s in self.files if s in sizes)
        where = "" if self.mirrors else f"; no download: --data-dir DIR or $GANKIT_DATA/{self.name}"
        return f"{self.summary}, {side}x{side} grey, {self.num_classes} classes ({counts}){where}"


# name -> description of every registered IDX dataset; the loaders look theirs up here when
# called, and a file's MD5 is matched against all of them to name a dataset mix-up
IDX_DATASETS: dict[str, IdxDataset] = {}


def register_idx(ds: IdxDataset) -> IdxDataset:
    """Register `ds` in DATASETS (and IDX_DATASETS) under its name."""
    IDX_DATASETS[ds.name] = ds
    entry = DatasetEntry(load=lambda spec: load_idx_dataset(ds.name, spec), description=ds.description,
                         classifier=ds.classifier)
    DATASETS.register(ds.name, entry)
    return ds


# ----------------------------------------------------------------------------- checking the files


class _OtherDataset(Exception):
    """Files found are the official files of a different dataset (MNIST when asked for Fashion)."""


def _owner(digest: str, ds: IdxDataset) -> Optional[IdxDataset]:
    """The other IDX dataset one of whose files has MD5 `digest`, if any."""
    return next((o for o in IDX_DATASETS.values() if o.name != ds.name and digest in o.md5.values()), None)


def _read_checked(ds: IdxDataset, split: str, stem: str, path: Path, images: bool) -> np.ndarray:
    """Read one file of `ds` and check type, shape, count, labels and checksum."""
    data = read_idx_bytes(path)
    arr = parse_idx(data, path)
    expected = ds.md5.get(stem)
    digest = hashlib.md5(data).hexdigest() if expected else ""
    # before the shape checks, so that another dataset's files (USPS's 16x16 images where MNIST is
    # looked for) send the search on to the next folder instead of stopping it with an error
    if expected and digest != expected and (other := _owner(digest, ds)):
        raise _OtherDataset(f"{path.parent} holds the {other.title} files, not {ds.title}")
    side = ds.image_side
    shape_ok = arr.shape[1:] == (side, side) if images else arr.ndim == 1
    if arr.dtype != np.uint8 or not shape_ok:
        what, want = ("images", f"(N, {side}, {side})") if images else ("labels", "(N,)")
        raise UserError(
            f"{path}: holds {arr.dtype} data of shape {arr.shape}, not {ds.title} {what}"
            f" (uint8 {want}); check the file"
        )
    n_want = ds.split_sizes.get(split)
    if n_want is not None and len(arr) != n_want:
        raise UserError(f"{path}: has {len(arr)} items, the {ds.title} {split} split has {n_want}; check the file")
    if not images and len(arr) and int(arr.max()) >= ds.num_classes:
        raise UserError(
            f"{path}: label {int(arr.max())} is out of range 0..{ds.num_classes - 1}; the file is not"
            f" {ds.title} labels"
        )
    if expected and digest != expected:
        if not ds.mirrors:  # no official IDX release (USPS): the checksum is that of one conversion
            print(f"gankit: {path}: MD5 {digest} differs from the {ds.title} conversion gankit knows ({expected}); "
                  "its shape, count and labels check out, so it is used", file=sys.stderr)
            return arr
        raise UserError(
            f"{path}: MD5 {digest} does not match the official {ds.title} file ({expected}); the file is"
            f" corrupt or not the official one: delete it and download it again"
        )
    return arr


# ----------------------------------------------------------------------------- finding the files


def search_dirs(ds: IdxDataset, spec: DataSpec) -> list[Path]:
    """The folders looked in for `ds`, in order (see the module docstring)."""
    if spec.data_dir is not None:
        d = Path(spec.data_dir).expanduser()
        return [d, d / ds.name]
    dirs = []
    env = os.environ.get("GANKIT_DATA")
    if env:
        root = Path(env).expanduser()
        dirs += [root / ds.name, root]
    dirs.append(paths.data_cache_dir(ds.name))
    return dirs + list(ds.system_dirs)


def _try_dirs(
    ds: IdxDataset, split: str, dirs: list[Path], notes: list[str]
) -> Optional[tuple[np.ndarray, np.ndarray, Path]]:
    """Load the split from the first folder holding both its files; None if none does.
    Why a folder was passed over goes into `notes`."""
    img_stem, lbl_stem = ds.files[split]
    for d in dirs:
        img_path, lbl_path = find_idx(d, img_stem), find_idx(d, lbl_stem)
        if img_path is None or lbl_path is None:
            if img_path or lbl_path:
                notes.append(f"{d} lacks {lbl_stem if img_path else img_stem}(.gz)")
            continue
        try:
            images = _read_checked(ds, split, img_stem, img_path, images=True)
            labels = _read_checked(ds, split, lbl_stem, lbl_path, images=False)
        except _OtherDataset as e:
            notes.append(str(e))
            continue
        if len(images) != len(labels):
            raise UserError(
                f"{d}: {len(images)} images but {len(labels)} labels; the {split} files do not belong together"
            )
        return images, labels, d
    return None


def _not_found(ds: IdxDataset, split: str, spec: DataSpec, dirs: list[Path], notes: list[str]) -> UserError:
    why = f" ({'; '.join(notes)})" if notes else ""
    where = f"{ds.title} {split} files not found in {', '.join(map(str, dirs))}{why}"
    if not ds.mirrors:
        files = " and ".join(f"{s}.gz" for s in ds.files[split])
        return UserError(
            f"{where}; {ds.title} has no public download: put {files} in a folder and pass --data-dir DIR,"
            f" or put them in $GANKIT_DATA/{ds.name} or {paths.data_cache_dir(ds.name)}"
        )
    off = " (downloading is off)" if not spec.download else ""
    return UserError(f"{where}; put the IDX files in one of them or pass --data-dir DIR{off}")


# ----------------------------------------------------------------------------- loading


def load_idx_dataset(name: str, spec: DataSpec) -> Dataset:
    """Load a split of the IDX dataset `name`: x uint8 (N, 1, S, S) (S its side, or
    spec.image_size), labels int64 (N,). Missing, corrupt or foreign files -> UserError."""
    ds = IDX_DATASETS[name]
    split = check_split(name, spec.split, tuple(ds.files))
    notes: list[str] = []
    dirs = search_dirs(ds, spec)
    found = _try_dirs(ds, split, dirs, notes)
    if found is None and spec.data_dir is not None:
        d = Path(spec.data_dir).expanduser()
        if not d.is_dir():
            raise UserError(f"--data-dir {d}: no such folder")
        why = "; ".join(notes) or f"expected {ds.files[split][0]}(.gz) and {ds.files[split][1]}(.gz)"
        raise UserError(f"no {ds.title} {split} files in {d} or {d / name} ({why})")
    if found is None and spec.download and ds.mirrors:
        found = _try_dirs(ds, split, [download(ds)], notes)
    if found is None:
        raise _not_found(ds, split, spec, dirs, notes)
    images, labels, folder = found
    return Dataset(
        name,
        x=resize_uint8(torch.from_numpy(images).unsqueeze(1), spec.image_size),
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_classes=ds.num_classes,
        class_names=list(ds.class_names),
        kind="image",
        source=str(folder),
    )
