"""Tiny IDX files for tests, and IDX dataset descriptions relaxed to accept them."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import Optional

import numpy as np

from gankit.data import idx
from gankit.data.idx_dataset import IDX_DATASETS, standard_files


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode `arr` as IDX: 0x0000, type code, ndim, big-endian dims, big-endian data."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in idx.IDX_DTYPES.items()}
    code = codes[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, gzipped when the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray,
                test_prefix: str = "t10k", gz: bool = True) -> None:
    """The images and labels files of `split` under their standard names (test: `test_prefix`)."""
    stems = standard_files(test_prefix)[split]
    ext = ".gz" if gz else ""
    write(folder / (stems[0] + ext), idx_bytes(images))
    write(folder / (stems[1] + ext), idx_bytes(labels))


def relax_idx_datasets(monkeypatch, split_sizes: Optional[dict[str, int]]) -> None:
    """Every IDX dataset accepts `split_sizes` items per split (None: any count), checks no MD5
    and has no system folders, until the test ends."""
    for name, ds in list(IDX_DATASETS.items()):
        relaxed = dataclasses.replace(ds, split_sizes=split_sizes or {}, md5={}, system_dirs=())
        monkeypatch.setitem(IDX_DATASETS, name, relaxed)


def change_idx_dataset(monkeypatch, name: str, **changes):
    """Replace fields of the IDX dataset `name` until the test ends; returns the new description."""
    new = dataclasses.replace(IDX_DATASETS[name], **changes)
    monkeypatch.setitem(IDX_DATASETS, name, new)
    return new


def isolate(tmp_path: Path, monkeypatch, urlopen) -> Path:
    """Tiny splits accepted (5 train / 3 test, no checksums); cache and env in tmp_path; the
    network replaced by `urlopen`."""
    import urllib.request

    relax_idx_datasets(monkeypatch, {"train": 5, "test": 3})
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return tmp_path
