"""The IDX file format (LeCun's MNIST format), gzipped or not: any type, any dimensions, any count.

Layout: 2 zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64), the number of dimensions d, d big-endian uint32 sizes, then exactly prod(sizes)
big-endian items. `read_idx` checks only this structure (and the gzip stream around it); what a
dataset expects of its files (shapes, counts, checksums) is checked by its `IdxDataset`.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np

from gankit.errors import UserError

# IDX type code -> big-endian numpy dtype (the format stores numbers most significant byte first)
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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

    Anything but the layout of the module docstring (bad magic, unknown type code, no dimensions,
    a short or long payload) -> UserError naming `path`.
    """
    if len(data) < 4:
        raise UserError(f"{path}: too short to be an IDX file ({len(data)} bytes); download it again")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise UserError(
            f"{path}: not an IDX file (magic number 0x{data[:4].hex()}, expected 0x0000 + type code"
            f" + dimension count such as 0x00000803); check that it is an IDX file"
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


def idx_names(stem: str) -> list[str]:
    """The names an IDX file `stem` is found under: as is, gzipped, and with a dot before "idx"
    (train-images.idx3-ubyte), as some archives name them."""
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def find_idx(folder: Path, stem: str) -> Optional[Path]:
    """The first of `idx_names(stem)` that is a file in `folder`, or None."""
    for name in idx_names(stem):
        if (folder / name).is_file():
            return folder / name
    return None
