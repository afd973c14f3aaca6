"""Fuzz the config parser: any keys and values through --set, a config file, saved config.json
and the flags give a TrainConfig or a one-line UserError, never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit.config import FIELD_NAMES, TrainConfig, build_config, from_dict, load_file, parse_set
from gankit.errors import UserError
from gankit.algorithms import MODELS

# derandomize: the same examples every run, so the suite stays deterministic
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_keys = st.sampled_from(FIELD_NAMES) | st.sampled_from([k.replace("_", "-") for k in FIELD_NAMES]) | st.text(max_size=12)
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-3, 3)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
            | st.sampled_from(["adam", "hinge", "cpu", "cuda:1", "none", "1e-4", ".inf", ".nan", "-0", "0x10",
                               "yes", "~", "[1, 2]", "{a: 1}", "!!python/object:os.system", "&a x", "*a"]))
_values = _scalars | st.lists(_scalars, max_size=2) | st.dictionaries(st.text(max_size=3), _scalars, max_size=2)


def _ok_or_user_error(fn, *args) -> None:
    try:
        cfg = fn(*args)
    except UserError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(cfg, (TrainConfig, dict))
        values = cfg.to_dict().values() if isinstance(cfg, TrainConfig) else cfg.values()
        assert all(math.isfinite(v) for v in values if isinstance(v, float))  # no NaN learning rates


@FUZZ
@given(model=st.sampled_from([name for name, _ in MODELS]),
       sets=st.lists(st.tuples(_keys, st.text(max_size=16) | _scalars.map(str)), max_size=4),
       flags=st.dictionaries(st.sampled_from(["dataset", "data_dir", "epochs", "minutes", "out", "seed"]),
                             _scalars, max_size=3))
def test_set_and_flags(model, sets, flags):
    items = [f"{k}={v}" for k, v in sets] + ["novalue"] * (len(sets) == 3)
    _ok_or_user_error(build_config, model, MODELS.get(model).defaults, None, items, flags)
    _ok_or_user_error(parse_set, items)


@FUZZ
@given(d=st.dictionaries(_keys | st.integers() | st.booleans(), _values, max_size=6) | _values)
def test_saved_config(d):
    _ok_or_user_error(from_dict, d, "config.json")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("config-fuzz")


@FUZZ
@given(body=st.dictionaries(_keys, _values, max_size=5).map(json.dumps) | st.text(max_size=80)
       | st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
       suffix=st.sampled_from([".yaml", ".json", ".yml", ""]))
def test_config_file(folder, body, suffix):
    path = folder / f"c{suffix}"
    path.write_text(body, encoding="utf-8")
    _ok_or_user_error(load_file, path)
    _ok_or_user_error(build_config, "dcgan", {}, str(path), [], {})
