"""A fuzz corpus of damaged checkpoints whose checksum was recomputed (so only their structure is
wrong): `sample`, `interpolate`, `eval` and `train --resume` end in a one-line error with exit code
2 or a correct result, never a traceback or a hang (each command has a time limit).

The corpus is seeded: case i of a kind draws its field, tensor and value from random.Random(i), so
every run of the suite tries the same checkpoints."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gankit.training import checkpoint as ckpt
from tests.helpers import TINY_RUN, fuzz_commands, outcome

# every algorithm, self-conditioning (centres in D) and the autoencoder's extra.* state
MODELS = {"gan": [], "dcgan": [], "dcgan-selfcond": ["dcgan", "--set", "clusters=4"], "cdcgan": [], "acgan": [],
          "infogan": [], "vae": [], "autoencoder": []}
REQUIRED = ("step", "epoch", "pos", "elapsed", "format", "sha256")
OPTIONAL = ("best_fid", "rollbacks", "gankit_version", "model", "algorithm", "config")
KINDS = {  # kind -> cases per model
    "drop_field": 2, "drop_optional": 1, "retype_field": 2, "out_of_range": 2, "deep": 1, "nan": 1,
    "param_groups": 2, "state_keys": 2, "drop_tensor": 2, "rename_tensor": 1, "reshape_tensor": 1,
    "retype_tensor": 1, "extra_tensor": 1,
}
MUST_REFUSE = set(KINDS) - {"drop_optional"}
CASES = [(m, k, i) for m in MODELS for k, n in KINDS.items() for i in range(n)]


@pytest.fixture(scope="module")
def bases(tmp_path_factory, fuzz_cache):
    """One tiny trained run per model, and a cache for eval's classifier."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(fuzz_cache))
    root = tmp_path_factory.mktemp("bases")
    from gankit.cli import main

    for name, argv in MODELS.items():
        main(["train", *(argv or [name]), "--out", str(root / name), *TINY_RUN])
    yield root
    mp.undo()


def _mutate(meta: dict, tensors: dict, kind: str, rng: random.Random) -> str:
    """Damage a checkpoint's metadata or tensors in place; returns the metadata's JSON text."""
    deep = None
    fields = ["step", "epoch", "pos", "elapsed", "rollbacks", "model"]
    opts = sorted(k for k in meta if k.startswith("opt_"))
    if kind == "drop_field":
        del meta[rng.choice(list(REQUIRED) + opts)]
    elif kind == "drop_optional":
        meta.pop(rng.choice(OPTIONAL), None)
    elif kind == "retype_field":
        key = rng.choice(fields)
        other = {"model": 7, "elapsed": "1.5"}[key] if key in ("model", "elapsed") else meta[key] + 0.5
        meta[key] = rng.choice([str(meta[key]) if key != "model" else 1.5, [meta[key]], {"v": meta[key]}, True,
                                None, other])
    elif kind == "out_of_range":
        key = rng.choice(fields[:5] + ["best_fid"])
        meta[key] = rng.choice([-1, 2**70, 10**13 if key != "best_fid" else 1e300, -1e300])
    elif kind == "deep":
        deep = rng.choice(fields + opts)
        meta[deep] = "@@DEEP@@"
    elif kind == "nan":
        meta[rng.choice(fields[:4] + ["best_fid"])] = rng.choice([float("nan"), float("inf")])
    elif kind == "param_groups":
        groups = meta[rng.choice(opts)]["param_groups"]
        change = rng.randrange(6)
        if change == 0:
            groups[0]["lr"] = rng.choice(["0.1", -0.1, 0, None, [0.1]])
        elif change == 1:
            groups.append(dict(groups[0]))
        elif change == 2:
            groups.clear()
        elif change == 3:
            groups[0]["nope"] = groups[0].pop(rng.choice(sorted(k for k in groups[0] if k != "params")))
        elif change == 4:
            groups[0]["params"] = groups[0]["params"][:-1] or [5]
        else:
            key = rng.choice(sorted(k for k in groups[0] if k not in ("params", "lr")))
            groups[0][key] = rng.choice(["x", [1, 2, 3], {"a": 1}, -5])
    elif kind == "state_keys":
        opt = rng.choice(opts)
        keys = meta[opt]["state_keys"]
        idx = rng.choice(sorted(keys))
        change = rng.randrange(3)
        if change == 2:  # the tensors renamed with their names: consistent, but not the optimizer's state
            for n in keys[idx]:
                tensors[f"{opt}.{idx}.{n}_nope"] = tensors.pop(f"{opt}.{idx}.{n}")
        keys[idx] = keys[idx][:-1] if change == 1 else [n + "_nope" for n in keys[idx]]
    else:
        name = rng.choice(sorted(tensors))
        t = tensors.pop(name)
        if kind == "rename_tensor":
            tensors[rng.choice([name + ".nope", "X" + name, name.replace(".", "_", 1)])] = t
        elif kind == "reshape_tensor":
            tensors[name] = t.reshape(1, -1) if t.dim() < 2 else t.reshape(-1)
        elif kind == "retype_tensor":
            tensors[name] = t.to(torch.float16 if t.dtype != torch.float16 else torch.float32)
        elif kind == "extra_tensor":
            tensors[name] = t
            tensors[rng.choice(["junk", f"{name.split('.')[0]}.extra_layer.weight", "extra.pool"])] = torch.zeros(3)
    meta["sha256"] = ckpt.tensor_digest(tensors) if "sha256" in meta else None
    if meta["sha256"] is None:
        del meta["sha256"]
    text = json.dumps(meta)
    if deep:
        n = rng.choice([40, 1000, 100_000])
        text = text.replace('"@@DEEP@@"', "[" * n + "]" * n)
    return text


@pytest.mark.parametrize("model,kind,i", CASES, ids=[f"{m}-{k}-{i}" for m, k, i in CASES])
def test_damaged_checkpoint(bases, tmp_path, capsys, model, kind, i):
    run = tmp_path / "run"
    shutil.copytree(bases / model, run, ignore=shutil.ignore_patterns("*.png", "log.txt"))
    path = run / "checkpoints" / "last.safetensors"
    tensors, meta = load_file(str(path)), ckpt.read_meta(path)
    rng = random.Random(f"{model}-{kind}-{i}")
    save_file(tensors, str(path), metadata={"gankit": _mutate(meta, tensors, kind, rng)})

    for argv in fuzz_commands(run, tmp_path, i == 0 and kind in ("drop_tensor", "retype_field", "param_groups", "drop_optional")):
        code, line = outcome(capsys, argv)
        if kind in MUST_REFUSE:
            assert code == 2 and "checkpoint" in line, (argv[0], line)
        elif argv[0] == "sample":
            assert np.load(tmp_path / "s.npz")["images"].shape[0] == 4
