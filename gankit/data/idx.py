"""MNIST and Fashion-MNIST from the standard IDX files (gzipped or not).

Where the files are looked for, in order (the first folder that has both files of the split wins):
  1. `spec.data_dir` and `spec.data_dir/<name>`; when data_dir is given, nothing else is searched;
  2. `$GANKIT_DATA/<name>`, then `$GANKIT_DATA` itself;
  3. the user cache, `paths.data_cache_dir(name)` (where downloads go);
  4. for fashion-mnist, Debian's `/usr/share/datasets/fashion-mnist` (package dataset-fashion-mnist).
If none has them and `spec.download` is true, the four .gz files are fetched from the dataset's own
distribution into the cache. Every file is checked: IDX structure, counts, shapes, label range and
the MD5 of the uncompressed content against the published value (uncompressed, because repackagers
such as Debian recompress the .gz files).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from gankit import paths
from gankit.data.base import DataSpec, Dataset
from gankit.data.registry import register
from gankit.data.transforms import check_split, resize_uint8
from gankit.errors import UserError

# IDX type code -> big-endian numpy dtype (the format stores numbers most significant byte first)
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# split -> (images, labels) file stems; each may also be stored as <stem>.gz or with a dot
# before "idx" (train-images.idx3-ubyte), as some archives do
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60000, "test": 10000}

# MD5 of the UNCOMPRESSED files. MNIST: the values torchvision and others publish. Fashion-MNIST:
# computed from Debian's dataset-fashion-mnist files and matching the values published alongside
# the upstream gz checksums (8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Bag", "Sneaker", "Ankle boot",
    ],
}
DOWNLOAD_TIMEOUT_S = 30.0


# ----------------------------------------------------------------------------- reading IDX files


def _gunzip(raw: bytes, path: Path) -> bytes:
    """Decompress all gzip members of `raw`; corrupt or truncated data -> UserError."""
    parts, rest = [], raw
    try:
        while rest:
            d = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer, checked CRC
            parts.append(d.decompress(rest))
            if not d.eof:
                raise UserError(f"{path}: the gzip data is truncated; download the file again")
            rest = d.unused_data
            if rest and rest[:2] != b"\x1f\x8b":
                if rest.count(0) == len(rest):  # zero padding after the last member is harmless
                    break
                raise UserError(
                    f"{path}: unexpected bytes after the gzip data; the file is corrupt, download it again"
                )
    except zlib.error as e:
        raise UserError(f"{path}: corrupt gzip data ({e}); download the file again") from None
    return b"".join(parts)


def read_idx_bytes(path: Union[str, Path]) -> bytes:
    """The uncompressed content of an IDX file, gzipped or raw (decided by content, not by name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        return _gunzip(raw, path)
    if path.suffix == ".gz" and raw[:2] != b"\x00\x00":
        raise UserError(f"{path}: not a gzip file (and not a raw IDX file either); download it again")
    return raw


def parse_idx(data: bytes, path: Union[str, Path] = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes into a native-endian, writable array of the stored shape.

    Layout: 2 zero bytes, a type code, the number of dimensions d, d big-endian uint32 sizes, then
    exactly prod(sizes) items. Anything else (bad magic, short or long payload) -> UserError.
    """
    if len(data) < 4:
        raise UserError(f"{path}: too short to be an IDX file ({len(data)} bytes); download it again")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise UserError(
            f"{path}: not an IDX file (magic number 0x{data[:4].hex()}, expected 0x0000 + type code"
            f" + dimension count such as 0x00000803); is it an MNIST-style file?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: IDX header is truncated; download the file again")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[code])
    want = dtype.itemsize * int(np.prod(dims, dtype=object))  # object: exact Python ints, no overflow
    have = len(data) - header
    if have < want:
        raise UserError(
            f"{path}: IDX file is truncated ({have} data bytes, the header says {want} for shape"
            f" {dims}); download it again"
        )
    if have > want:
        raise UserError(
            f"{path}: {have - want} unexpected bytes after the IDX data of shape {dims}; the file is"
            f" corrupt, download it again"
        )
    arr = np.frombuffer(data, dtype=dtype, count=want // dtype.itemsize, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a native-endian copy: torch wants writable memory


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """Read an IDX file (.gz or raw) into a numpy array of its stored shape and type.

    E.g. train-images-idx3-ubyte.gz -> uint8 (60000, 28, 28). A missing, unreadable or malformed
    file raises UserError with a one-line message naming it.
    """
    return parse_idx(read_idx_bytes(path), path)


# ----------------------------------------------------------------------------- finding the files


class _OtherDataset(Exception):
    """Files found are the official files of a different dataset (MNIST when asked for Fashion)."""


def _names(stem: str) -> list[str]:
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def _find(folder: Path, stem: str) -> Optional[Path]:
    for n in _names(stem):
        if (folder / n).is_file():
            return folder / n
    return None


def _load_checked(name: str, split: str, stem: str, path: Path, images: bool) -> np.ndarray:
    """Read one file of `name` and check type, shape, count, labels and checksum."""
    title = TITLES[name]
    data = read_idx_bytes(path)
    arr = parse_idx(data, path)
    want_shape = "(N, 28, 28)" if images else "(N,)"
    if arr.dtype != np.uint8 or (arr.shape[1:] != (28, 28) if images else arr.ndim != 1):
        raise UserError(
            f"{path}: holds {arr.dtype} data of shape {arr.shape}, not {title} {'images' if images else 'labels'}"
            f" (uint8 {want_shape}); check the file"
        )
    expected = MD5.get(name, {}).get(stem)
    digest = hashlib.md5(data).hexdigest() if expected else ""
    if expected and digest != expected:
        other = [n for n, table in MD5.items() if n != name and digest in table.values()]
        if other:
            raise _OtherDataset(f"{path.parent} holds the {TITLES.get(other[0], other[0])} files, not {title}")
    n_want = SPLIT_SIZES.get(split)
    if n_want is not None and len(arr) != n_want:
        raise UserError(f"{path}: has {len(arr)} items, the {title} {split} split has {n_want}; check the file")
    if not images and len(arr) and int(arr.max()) > 9:
        raise UserError(f"{path}: label {int(arr.max())} is out of range 0..9; the file is not {title} labels")
    if expected and digest != expected:
        raise UserError(
            f"{path}: MD5 {digest} does not match the official {title} file ({expected}); the file is"
            f" corrupt or not the official one: delete it and download it again"
        )
    return arr


def _search_dirs(name: str, spec: DataSpec) -> list[Path]:
    if spec.data_dir is not None:
        d = Path(spec.data_dir).expanduser()
        return [d, d / name]
    dirs = []
    env = os.environ.get("GANKIT_DATA")
    if env:
        root = Path(env).expanduser()
        dirs += [root / name, root]
    dirs.append(paths.data_cache_dir(name))
    dirs += SYSTEM_DIRS.get(name, [])
    return dirs


def _try_dirs(
    name: str, split: str, dirs: list[Path], notes: list[str]
) -> Optional[tuple[np.ndarray, np.ndarray, Path]]:
    """Load the split from the first folder holding both its files; None if none does."""
    img_stem, lbl_stem = FILES[split]
    for d in dirs:
        img_path, lbl_path = _find(d, img_stem), _find(d, lbl_stem)
        if img_path is None or lbl_path is None:
            if img_path or lbl_path:
                missing = lbl_stem if img_path else img_stem
                notes.append(f"{d} lacks {missing}(.gz)")
            continue
        try:
            images = _load_checked(name, split, img_stem, img_path, images=True)
            labels = _load_checked(name, split, lbl_stem, lbl_path, images=False)
        except _OtherDataset as e:
            notes.append(str(e))
            continue
        if len(images) != len(labels):
            raise UserError(
                f"{d}: {len(images)} images but {len(labels)} labels; the {split} files do not belong together"
            )
        return images, labels, d
    return None


# ----------------------------------------------------------------------------- downloading


def _download_one(name: str, stem: str, dest: Path) -> None:
    """Fetch <stem>.gz into `dest` (a folder), trying each mirror; verified before it is renamed."""
    title, errors = TITLES[name], []
    for base in MIRRORS[name]:
        url = base + stem + ".gz"
        tmp = dest / f".{stem}.gz.part{os.getpid()}"
        try:
            print(f"downloading {url}", file=sys.stderr)
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(tmp, "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
            expected = MD5[name][stem]
            try:
                digest = hashlib.md5(read_idx_bytes(tmp)).hexdigest()
            except UserError as e:
                digest = f"unreadable ({e})"
            if digest != expected:
                errors.append(f"{url}: checksum mismatch")
                continue
            os.replace(tmp, dest / (stem + ".gz"))  # only verified files get the real name
            return
        # URLError and HTTPError are OSErrors, as are timeouts; ValueError: a malformed URL
        except (OSError, ValueError, http.client.HTTPException) as e:
            errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
        finally:
            tmp.unlink(missing_ok=True)
    raise UserError(
        f"could not download {title} ({'; '.join(errors)}): no network? put the four IDX files in a"
        f" folder and pass --data-dir DIR"
    )


def download(name: str, dest: Optional[Path] = None) -> Path:
    """Download the four .gz files of `name` ("mnist" or "fashion-mnist") that `dest` lacks.

    dest: default the user cache `paths.data_cache_dir(name)`. Returns the folder.
    """
    dest = dest or paths.data_cache_dir(name)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {dest} for the {TITLES[name]} download: {e.strerror or e}") from None
    for img_stem, lbl_stem in FILES.values():
        for stem in (img_stem, lbl_stem):
            if _find(dest, stem) is None:
                _download_one(name, stem, dest)
    return dest


# ----------------------------------------------------------------------------- the loaders


def load_idx_dataset(name: str, spec: DataSpec) -> Dataset:
    """Load MNIST or Fashion-MNIST: x uint8 (N, 1, 28, 28) (or resized), labels int64 (N,)."""
    split = check_split(name, spec.split)
    title, notes = TITLES[name], []
    dirs = _search_dirs(name, spec)
    found = _try_dirs(name, split, dirs, notes)
    if found is None and spec.data_dir is not None:
        d = Path(spec.data_dir).expanduser()
        if not d.is_dir():
            raise UserError(f"--data-dir {d}: no such folder")
        why = "; ".join(notes) or f"expected {FILES[split][0]}(.gz) and {FILES[split][1]}(.gz)"
        raise UserError(f"no {title} {split} files in {d} or {d / name} ({why})")
    if found is None and spec.download:
        found = _try_dirs(name, split, [download(name)], notes)
    if found is None:
        why = f" ({'; '.join(notes)})" if notes else ""
        off = " (downloading is off)" if not spec.download else ""
        raise UserError(
            f"{title} {split} files not found in {', '.join(map(str, dirs))}{why}; put the IDX files"
            f" in one of them or pass --data-dir DIR{off}"
        )
    images, labels, folder = found
    x = resize_uint8(torch.from_numpy(images).unsqueeze(1), spec.image_size)
    return Dataset(
        name,
        x=x,
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_classes=10,
        class_names=list(CLASS_NAMES[name]),
        kind="image",
        source=str(folder),
    )


@register("mnist", "MNIST handwritten digits, 28x28 grey, 10 classes (60000 train / 10000 test)")
def load_mnist(spec: DataSpec) -> Dataset:
    """MNIST: x uint8 (N, 1, 28, 28), labels int64 (N,) in 0..9."""
    return load_idx_dataset("mnist", spec)


@register("fashion-mnist", "Fashion-MNIST clothing images, 28x28 grey, 10 classes (60000 train / 10000 test)")
def load_fashion_mnist(spec: DataSpec) -> Dataset:
    """Fashion-MNIST: x uint8 (N, 1, 28, 28), labels int64 (N,) in 0..9 (see CLASS_NAMES)."""
    return load_idx_dataset("fashion-mnist", spec)
