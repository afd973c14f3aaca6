"""Bounded JSON and YAML: depth, size, alias expansion and encoding refused in one line, fast."""

import time

import pytest

from gankit.bounded import json_depth, loads_json, loads_yaml, read_text, shown
from gankit.errors import UserError

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _error(fn, *args, **kw) -> str:
    with pytest.raises(UserError) as e:
        fn(*args, **kw)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_json_within_bounds_parses():
    assert loads_json('{"a": [1, {"b": "[[[["}]}', "f", "fix it", 1000) == {"a": [1, {"b": "[[[["}]}
    assert json_depth('{"a": [1, {"b": "[[[[\\"]"}]}') == 3


def test_json_depth_size_and_constants_are_refused():
    assert "nests 100000 levels" in _error(loads_json, "[" * 100_000 + "]" * 100_000, "f", "fix it", 10**6)
    assert "larger than the 1 KiB" in _error(loads_json, "[" + "1," * 1000 + "1]", "f", "fix it", 1024)
    assert "NaN is not a number" in _error(loads_json, '{"step": NaN}', "f", "fix it", 1000)
    assert "not valid JSON" in _error(loads_json, '{"step": ', "f", "fix it", 1000)
    assert "not valid JSON" in _error(loads_json, "1" * 5000, "f", "fix it", 10**4)  # int digit limit


def test_yaml_aliases_that_expand_exponentially_are_refused_at_once():
    t0 = time.perf_counter()
    assert "expands to more than" in _error(loads_yaml, LAUGHS, "c.yaml", "fix it", 10**6)
    assert time.perf_counter() - t0 < 2
    assert loads_yaml("a: &x 3\nb: *x\n", "c.yaml", "fix it", 1000) == {"a": 3, "b": 3}


@pytest.mark.parametrize("text", ["a: " + "[" * 50_000 + "]" * 50_000,
                                  "".join("  " * i + "- \n" for i in range(2000)) + "  " * 2000 + "- 1\n",
                                  "".join(" " * i + f"k{i}:\n" for i in range(3000))])
def test_deep_yaml_is_refused(text):
    assert "nests deeper than 32" in _error(loads_yaml, text, "c.yaml", "fix it", 10**7)


def test_text_must_be_utf8_and_small(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_bytes(b"lr_d: 0.1\n\xff\xfe")
    assert "not UTF-8 text (byte 0xff at offset 10)" in _error(read_text, f, "config file c.yaml", "fix", 100)
    f.write_bytes(b"x" * 101)
    assert "larger than" in _error(read_text, f, "config file c.yaml", "fix", 100)
    assert "cannot read" in _error(read_text, tmp_path / "missing", "config file", "fix", 100)


def test_shown_is_short_even_for_huge_or_recursive_values():
    a: list = []
    a.append(a)
    assert shown(a) == "a list"
    assert shown("x" * 1000).endswith("...") and len(shown("x" * 1000)) == 60
    assert shown([1, 2]) == "[1, 2]"
