"""The checkpoints of the reliability review, each refused by `train --resume` (and by `sample`)
in one line naming the field or tensor, with exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from gankit.training import checkpoint as ckpt
from tests.helpers import TINY_RUN, outcome


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from gankit.cli import main

    out = tmp_path_factory.mktemp("base") / "r"
    main(["train", "dcgan", "--out", str(out), *TINY_RUN])
    return out


def _edit(base, tmp_path, meta_edit=None, tensor_edit=None, text_edit=None):
    run = tmp_path / "r"
    shutil.copytree(base, run)
    path = run / "checkpoints" / "last.safetensors"
    tensors, meta = load_file(str(path)), ckpt.read_meta(path)
    if meta_edit:
        meta_edit(meta)
    if tensor_edit:
        tensor_edit(tensors)
    meta["sha256"] = ckpt.tensor_digest(tensors)
    text = json.dumps(meta)
    save_file(tensors, str(path), metadata={"gankit": text_edit(text) if text_edit else text})
    return run


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


def _rename_opt_state(m):
    keys = m["opt_d"]["state_keys"]["0"]
    keys[keys.index("exp_avg")] = "nope"


ROWS = [
    ("step as a string", _set("step", "3"), None, None, "field step is '3' (expected an integer"),
    ("epoch as a string", _set("epoch", "0"), None, None, "field epoch is '0'"),
    ("step missing", lambda m: m.pop("step"), None, None, "field step is missing (expected an integer"),
    ("opt_d missing", lambda m: m.pop("opt_d"), None, None, "field opt_d is missing"),
    ("optimizer state renamed", _rename_opt_state, None, None, "field opt_d.state_keys[0] is ['step', 'nope'"),
    ("optimizer state renamed with its tensor", _rename_opt_state,
     lambda t: t.__setitem__("opt_d.0.nope", t.pop("opt_d.0.exp_avg")), None,
     "field opt_d.state_keys[0] is ['step', 'nope', 'exp_avg_sq'] (expected ['exp_avg', 'exp_avg_sq', 'step'], "
     "the state Adam keeps)"),
    ("optimizer tensor renamed", None, lambda t: t.__setitem__("opt_d.0.nope", t.pop("opt_d.0.exp_avg")), None,
     "tensor opt_d.0.exp_avg is missing"),
    ("two param groups", lambda m: m["opt_d"]["param_groups"].append(m["opt_d"]["param_groups"][0]), None, None,
     "opt_d.param_groups has 2 groups (expected 1"),
    ("NaN", _set("elapsed", float("nan")), None, None, "NaN is not a number gankit writes"),
    ("deep JSON", _set("pos", "@"), None, lambda t: t.replace('"@"', "[" * 100_000 + "]" * 100_000), "metadata nests 100001 levels deep (at most 32)"),
    ("negative step", _set("step", -1), None, None, "field step is -1"),
    ("huge step", _set("step", 10**15), None, None, "field step is 1000000000000000"),
    ("float step", _set("step", 3.0), None, None, "field step is 3.0"),
    ("rollbacks as a string", _set("rollbacks", "0"), None, None, "field rollbacks is '0'"),
    ("lr as a string", lambda m: m["opt_g"]["param_groups"][0].__setitem__("lr", "0.002"), None, None,
     "opt_g.param_groups[0].lr is '0.002'"),
    ("a D tensor removed", None, lambda t: t.pop("D.head.weight", None) if "D.head.weight" in t
     else t.pop(sorted(k for k in t if k.startswith("D."))[0]), None, "tensor D."),
]


@pytest.mark.parametrize("name,meta_edit,tensor_edit,text_edit,message", ROWS, ids=[r[0] for r in ROWS])
def test_review_rows_are_refused_in_one_line(base, tmp_path, capsys, name, meta_edit, tensor_edit, text_edit, message):
    run = _edit(base, tmp_path, meta_edit, tensor_edit, text_edit)
    for argv in (["train", "--resume", run], ["sample", run, "--n", 2, "--out", tmp_path / "s.npz"]):
        code, line = outcome(capsys, argv, seconds=20)
        assert code == 2 and message in line, line


def test_an_epoch_position_past_the_dataset_is_refused_on_resume(base, tmp_path, capsys):
    run = _edit(base, tmp_path, _set("pos", 10**6))
    code, line = outcome(capsys, ["train", "--resume", run])
    assert code == 2 and "field pos is 1000000 (expected 0..88" in line  # 1437 digits in batches of 16


def test_the_untouched_run_resumes_and_samples(base, tmp_path, capsys):
    run = _edit(base, tmp_path)
    assert outcome(capsys, ["train", "--resume", run, "--epochs", "1"])[0] == 0
    assert outcome(capsys, ["sample", run, "--n", 2, "--out", tmp_path / "s.npz"])[0] == 0


def test_a_retyped_tensor_names_its_dtype(base, tmp_path, capsys):
    run = _edit(base, tmp_path, tensor_edit=lambda t: t.__setitem__("rng.torch", t["rng.torch"].to(torch.int64)))
    code, line = outcome(capsys, ["train", "--resume", run])
    assert "tensor rng.torch is int64 (5056,) (expected uint8 (5056,))" in line
