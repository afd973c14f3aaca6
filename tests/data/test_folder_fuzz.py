"""Fuzz the image-folder loader: random bytes, broken and valid images of mixed sizes and modes,
odd file and folder names, in the flat and the class layout. It gives a Dataset or a one-line
UserError, never another exception, and never hangs."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]


@st.composite
def _image_bytes(draw) -> bytes:
    """A small valid image in some mode and format, sometimes truncated or with a flipped byte."""
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"]))
    seed = draw(st.integers(0, 2**16))
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB").convert(mode)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # this format cannot hold this mode: save it as PNG
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="PNG")
    data = buf.getvalue()
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    return data


_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1,
                 max_size=16).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)
_raw_names = st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b
                                                       and b not in (b".", b".."))
_content = st.binary(max_size=200) | _image_bytes()
_file = st.tuples(st.none() | _names, _names | _raw_names, _content)  # (class folder or None, name, bytes)


def _write(root: Path, cls, name, data: bytes) -> None:
    folder = os.fsencode(root) if cls is None else os.path.join(os.fsencode(root), os.fsencode(cls))
    path = os.path.join(folder, name if isinstance(name, bytes) else os.fsencode(name))
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # the class name is taken by a file
        return
    if os.path.isdir(path):  # the file name is taken by a class folder
        return
    with open(path, "wb") as f:
        f.write(data)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=st.lists(_file, max_size=6), size=st.none() | st.integers(1, 20),
       channels=st.sampled_from([None, 1, 3]))
def test_folder_loader_never_crashes(files, size, channels):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        for cls, name, data in files:
            _write(root, cls, name, data)
        try:
            ds = load_dataset("folder", DataSpec(data_dir=root, image_size=size, channels=channels))
        except UserError as e:
            assert "\n" not in str(e)
            return
        n, c, s, s2 = ds.x.shape
        assert ds.x.dtype == torch.uint8 and n >= 1 and s == s2 == (size or 64)
        assert c == channels if channels else c in (1, 3)
        assert ds.labels is None or (len(ds.labels) == n and int(ds.labels.max()) < ds.num_classes)
