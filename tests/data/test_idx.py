"""The IDX format reader on tiny files made here: any type and shape, and every kind of damage."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from gankit.data import idx
from gankit.errors import UserError
from tests.data.idx_files import idx_bytes, write


# ----------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "arr",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, 1, 4], dtype=np.uint8),
        np.array([[-1, 2], [300000, -7]], dtype=np.int32),
        np.array([1.5, -2.25], dtype=np.float32),
        np.array([[1e300]], dtype=np.float64),
        np.array([-5, 7], dtype=np.int16),
        np.zeros((0, 28, 28), dtype=np.uint8),
    ],
)
def test_read_idx_round_trip(tmp_path, arr, suffix):
    out = idx.read_idx(write(tmp_path / f"a-idx-ubyte{suffix}", idx_bytes(arr)))
    assert out.shape == arr.shape and out.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable and out.dtype.isnative


def test_read_idx_accepts_multi_member_and_zero_padded_gzip(tmp_path):
    data = idx_bytes(np.arange(100, dtype=np.uint8))
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(data[:50]) + gzip.compress(data[50:]) + b"\0" * 16)
    np.testing.assert_array_equal(idx.read_idx(path), np.arange(100))


def test_read_idx_raw_file_named_gz(tmp_path):
    # a server that transparently decompressed the download leaves raw IDX under a .gz name
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(idx_bytes(np.array([1, 2], dtype=np.uint8)))
    np.testing.assert_array_equal(idx.read_idx(path), [1, 2])


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
GOOD_GZ = gzip.compress(GOOD)


def _corrupt_gz() -> bytes:
    bad = bytearray(GOOD_GZ)
    bad[-6] ^= 0xFF  # inside the CRC/length trailer
    return bytes(bad)


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("empty", b"", "too short"),
        ("short", b"\x00\x00", "too short"),
        ("magic", b"\x12\x34\x08\x03" + GOOD[4:], "not an IDX file"),
        ("typecode", b"\x00\x00\x07\x03" + GOOD[4:], "not an IDX file"),
        ("ndim0", b"\x00\x00\x08\x00", "not an IDX file"),
        ("header", GOOD[:9], "header is truncated"),
        ("payload", GOOD[:-1], "truncated"),
        ("trailing", GOOD + b"\x00", "unexpected bytes"),
        ("notgzip.gz", b"hello world, not gzip", "not a gzip file"),
        ("truncgz.gz", GOOD_GZ[: len(GOOD_GZ) // 2], "truncated"),
        ("crc.gz", _corrupt_gz(), "corrupt gzip"),
        ("garbage.gz", GOOD_GZ + b"junk", "unexpected bytes after the gzip"),
        ("badstream.gz", GOOD_GZ[:10] + b"\xff" * 20, "corrupt gzip"),
        ("hugedims", b"\x00\x00\x08\x02" + b"\xff" * 8 + b"\x01", "truncated"),
    ],
)
def test_read_idx_bad_files_give_one_line_user_errors(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as e:
        idx.read_idx(path)
    msg = str(e.value)
    assert words in msg and str(path) in msg and "\n" not in msg


def test_read_idx_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        idx.read_idx(tmp_path / "nope-idx1-ubyte.gz")
    with pytest.raises(UserError, match="cannot read"):
        idx.read_idx(tmp_path)


def test_read_idx_reads_any_shape_and_count_not_just_mnist(tmp_path):
    # nothing of MNIST is assumed: 4-D int16, a 1-D count of one, a 16x16 image stack
    for arr in (np.arange(2 * 3 * 2 * 5, dtype=np.int16).reshape(2, 3, 2, 5) - 7,
                np.array([255], dtype=np.uint8),
                np.zeros((7, 16, 16), dtype=np.uint8)):
        np.testing.assert_array_equal(idx.read_idx(write(tmp_path / "any.gz", idx_bytes(arr))), arr)


def test_find_idx_accepts_gz_and_dotted_names(tmp_path):
    assert idx.find_idx(tmp_path, "train-images-idx3-ubyte") is None
    write(tmp_path / "train-images.idx3-ubyte.gz", b"")
    assert idx.find_idx(tmp_path, "train-images-idx3-ubyte") == tmp_path / "train-images.idx3-ubyte.gz"
    write(tmp_path / "train-images-idx3-ubyte", b"")  # the plain name comes first
    assert idx.find_idx(tmp_path, "train-images-idx3-ubyte") == tmp_path / "train-images-idx3-ubyte"
