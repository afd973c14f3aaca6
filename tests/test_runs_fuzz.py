"""A fuzz corpus of damaged config.json and metrics.jsonl files in a trained run folder: `sample`,
`interpolate`, `eval` and `train --resume` end in a one-line error with exit code 2 or a correct
result, never a traceback or a hang. Seeded: case i draws from random.Random(i)."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from tests.helpers import TINY_RUN, fuzz_commands, outcome

MODELS = {"dcgan": [], "infogan": [], "vae": []}
CONFIG_KINDS = {"drop_key": 2, "retype": 4, "out_of_range": 3, "deep": 1, "nan": 1, "not_utf8": 1, "truncate": 2,
                "huge": 1, "unknown_key": 1, "data": 3, "not_a_mapping": 1}
METRICS_KINDS = {"step": 3, "value": 2, "not_a_row": 1, "not_utf8": 1, "long_line": 1, "deep": 1, "cut_last": 1}
MUST_REFUSE = {("config", k) for k in ("deep", "nan", "not_utf8", "huge", "unknown_key", "data", "not_a_mapping")}
MUST_REFUSE_RESUME = {("metrics", k) for k in ("step", "value", "not_a_row", "long_line", "deep")}
CASES = ([(m, "config", k, i) for m in MODELS for k, n in CONFIG_KINDS.items() for i in range(n)]
         + [(m, "metrics", k, i) for m in MODELS for k, n in METRICS_KINDS.items() for i in range(n)])


@pytest.fixture(scope="module")
def bases(tmp_path_factory, fuzz_cache):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(fuzz_cache))
    root = tmp_path_factory.mktemp("bases")
    from gankit.cli import main

    for name in MODELS:
        main(["train", name, "--out", str(root / name), *TINY_RUN])
    yield root
    mp.undo()


def _config(text: str, kind: str, rng: random.Random) -> bytes:
    body = json.loads(text)
    cfg = body["config"]
    key = rng.choice(sorted(k for k in cfg if k != "options"))
    if kind == "drop_key":
        cfg.pop(key)
    elif kind == "retype":
        cfg[key] = rng.choice(["x", [1], {"a": 1}, None, True, 1.5, -3])
    elif kind == "out_of_range":
        cfg[rng.choice(["batch_size", "width", "z_dim", "image_size", "seed", "lr_d", "grid_size", "threads"])] = \
            rng.choice([-1, 0, 10**13, 1e300, 2**64])
    elif kind == "unknown_key":
        cfg["nope"] = 1
    elif kind == "data":
        body["data"][rng.choice(["shape", "num_classes", "kind", "class_names"])] = rng.choice(["x", [1, 8], -1, [[1]]])
    elif kind == "not_a_mapping":
        body = rng.choice([[], "config", {"config": []}, {"data": body["data"]}])
    out = json.dumps(body)
    if kind == "deep":
        out = out.replace(json.dumps(key), json.dumps(key) + ": " + "[" * 5000 + "]" * 5000 + ', "x"', 1)
    elif kind == "nan":
        out = out.replace('"lr_d": ', '"lr_d": NaN, "_": ', 1)
    elif kind == "truncate":
        out = out[:rng.randrange(len(out))]
    elif kind == "huge":
        out = out[:-1] + " " * 2**21 + "}"
    data = out.encode()
    return data[:10] + b"\xff\xfe" + data[10:] if kind == "not_utf8" else data


def _metrics(text: str, kind: str, rng: random.Random) -> bytes:
    rows = [json.loads(line) for line in text.splitlines()]
    i = rng.randrange(len(rows))
    if kind == "step":
        rows[i]["step"] = rng.choice(["1", -1, 1.5, None, [1], 10**15])
    elif kind == "value":
        rows[i][rng.choice(sorted(rows[i]))] = rng.choice([[1, 2], {"a": 1}])
    elif kind == "not_a_row":
        rows[i] = rng.choice([[1, 2], "row", 5])
    lines = [json.dumps(r) for r in rows]
    if kind == "long_line":
        lines[i] = lines[i][:-1] + ', "pad": "' + "x" * 100_000 + '"}'
    elif kind == "deep":
        lines[i] = "[" * 10_000 + "]" * 10_000
    elif kind == "cut_last":
        lines[-1] = lines[-1][:rng.randrange(1, len(lines[-1]))]
    data = "\n".join(lines).encode() + b"\n"
    return data.replace(b'"step"', b'"st\xffep"', 1) if kind == "not_utf8" else data


@pytest.mark.parametrize("model,file,kind,i", CASES, ids=[f"{m}-{f}-{k}-{i}" for m, f, k, i in CASES])
def test_damaged_run_files(bases, tmp_path, capsys, model, file, kind, i):
    run = tmp_path / "run"
    shutil.copytree(bases / model, run, ignore=shutil.ignore_patterns("*.png", "log.txt"))
    rng = random.Random(f"{model}-{file}-{kind}-{i}")
    path = run / ("config.json" if file == "config" else "metrics.jsonl")
    path.write_bytes((_config if file == "config" else _metrics)(path.read_text(), kind, rng))

    for argv in fuzz_commands(run, tmp_path, i == 0 and kind in ("retype", "data", "step", "out_of_range")):
        code, line = outcome(capsys, argv)
        if (file, kind) in MUST_REFUSE or ((file, kind) in MUST_REFUSE_RESUME and argv[0] == "train"):
            assert code == 2, (argv[0], line)
