"""`gankit train`, `--eval-every` and `gankit eval` on a labelled image folder with train/ and test/."""

import json

import pytest

from tests.helpers import labelled_folder
from tests.test_cli import error_of, run_cli

TINY = ["--set", "width=8", "--set", "z_dim=16", "--set", "batch_size=8", "--set", "max_steps=10",
        "--set", "log_every=5", "--set", "device=cpu", "--set", "image_size=16"]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    data = labelled_folder(tmp_path_factory.mktemp("data") / "shapes")
    out = tmp_path_factory.mktemp("runs") / "f"
    run_cli("train", "cdcgan", "--dataset", "folder", "--data-dir", data, "--out", out, *TINY,
            "--eval-every", "5", "--set", "eval_samples=30")
    yield out, data
    mp.undo()


def test_eval_every_scores_a_folder_run_against_its_test_split(folder_run):
    out, _ = folder_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval")]
    assert [r["step"] for r in evals] == [5, 10]
    assert all({"fid", "classes_covered", "label_accuracy"} <= set(r) for r in evals)
    assert (out / "checkpoints" / "best.safetensors").is_file()


def test_eval_of_a_folder_run_and_of_its_samples(folder_run, tmp_path, capsys):
    out, data = folder_run
    run_cli("eval", out, "--n", "60", "--no-memorization")
    text = capsys.readouterr().out
    assert "60 samples of folder (3, 16, 16)" in text and "label accuracy" in text
    result = json.loads((out / "eval.json").read_text())
    p = result["protocol"]
    assert p["reference"] == "folder test split, 30 items" and p["classifier_dataset"] == "folder"
    assert p["classifier_test_accuracy"] >= 0.9 and "3 channels kept" in p["resize"]
    npz = tmp_path / "s.npz"
    run_cli("sample", out, "--n", "30", "--labels", "all", "--out", npz)
    run_cli("eval", "--samples", npz, "--dataset", "folder", "--data-dir", data, "--no-memorization")
    assert "label accuracy" in capsys.readouterr().out


def test_eval_every_on_a_folder_without_test_split_is_refused_before_training(tmp_path, capsys):
    data = labelled_folder(tmp_path / "only", n_train=2, splits=("train",)) / "train"
    err = error_of(capsys, "train", "cdcgan", "--dataset", "folder", "--data-dir", data, "--out",
                   tmp_path / "run", *TINY, "--eval-every", "5")
    assert "no test split" in err and "test" in err
    assert not (tmp_path / "run").exists()
