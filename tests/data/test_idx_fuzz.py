"""Fuzz read_idx: any bytes give an array or a UserError, never another exception."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit.data.idx import read_idx
from gankit.errors import UserError


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    # module scope: hypothesis reruns the test body many times within one fixture instance
    return tmp_path_factory.mktemp("idx-fuzz")


def _check(folder: Path, content: bytes, name: str) -> None:
    path = folder / name
    path.write_bytes(content)
    try:
        out = read_idx(path)
    except UserError as e:
        assert "\n" not in str(e) and str(path) in str(e)
    else:
        assert isinstance(out, np.ndarray) and out.dtype.isnative


# byte strings that often look like IDX: a plausible header followed by a few data bytes
_idx_like = st.builds(
    lambda code, ndim, dims, body: bytes([0, 0, code, ndim])
    + b"".join(d.to_bytes(4, "big") for d in dims[:ndim])
    + body,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x01]),
    st.integers(0, 4),
    st.lists(st.integers(0, 6) | st.integers(0, 2**32 - 1), min_size=0, max_size=4),
    st.binary(max_size=300),
)


@st.composite
def _nearly_valid(draw) -> bytes:
    """A valid IDX file of small random shape, sometimes one byte short or long."""
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]))
    dims = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    size = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}[code] * int(np.prod(dims))
    body = draw(st.binary(min_size=size, max_size=size)) + draw(st.sampled_from([b"", b"\0"]))
    if draw(st.booleans()) and body:
        body = body[:-1]
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + body


_anything = st.binary(max_size=400) | _idx_like | _nearly_valid()


# derandomize: the same 200 examples every run, so the suite stays deterministic
@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(content=_anything, gz=st.booleans(), named_gz=st.booleans(), cut=st.integers(0, 64))
def test_read_idx_never_crashes(fuzz_dir, content, gz, named_gz, cut):
    if gz:
        content = gzip.compress(content)
        if cut:  # sometimes a truncated or damaged stream
            content = content[:-cut] if cut % 2 else content[:cut] + b"\xff" + content[cut + 1 :]
    _check(fuzz_dir, content, "f.gz" if named_gz else "f")
