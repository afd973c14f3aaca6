"""`--eval-every`, `gankit eval` and `gankit report` end to end on scikit-learn's digits."""

import json
import sys

import numpy as np
import pytest

from gankit.training import checkpoint as ckpt
from tests.test_cli import FAST, error_of, run_cli


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    out = tmp_path_factory.mktemp("runs") / "e"
    run_cli("train", "cdcgan", "--dataset", "digits", "--epochs", "3", "--out", out, *FAST,
            "--eval-every", "20", "--set", "eval_samples=200")
    yield out
    mp.undo()


def test_eval_every_logs_scores_and_keeps_the_best_checkpoint(eval_run):
    rows = [json.loads(line) for line in (eval_run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval")]
    # 1437 images in full batches of 32 = 44 steps an epoch, 132 in all: 20, 40, ..., 120 and the end
    assert [r["step"] for r in evals] == [20, 40, 60, 80, 100, 120, 132]
    assert all({"fid", "classes_covered", "label_accuracy"} <= set(r) for r in evals)
    best = min(evals, key=lambda r: r["fid"])
    _, meta = ckpt.load(eval_run / "checkpoints" / "best.safetensors")
    assert meta["step"] == best["step"] and meta["best_fid"] == best["fid"]
    _, last = ckpt.load(eval_run / "checkpoints" / "last.safetensors")
    assert last["best_fid"] == best["fid"]
    assert "eval at step 20" in (eval_run / "log.txt").read_text()


def test_eval_of_a_run_prints_the_table_and_writes_json(eval_run, tmp_path, capsys):
    out = tmp_path / "e.json"
    run_cli("eval", eval_run, "--n", "300", "--json", out)
    text = capsys.readouterr().out
    for word in ("FID", "KID", "precision", "coverage", "label accuracy", "D accuracy on real", "floor",
                 "perceptual path length, z", "latent walks"):
        assert word in text
    result = json.loads(out.read_text())
    assert result["protocol"]["checkpoint"] == "best" and result["protocol"]["n_samples"] == 300
    assert 0 <= result["scores"]["d_acc_real"] <= 1 and 0 <= result["scores"]["d_acc_fake"] <= 1
    assert (eval_run / "eval.json").is_file() and (eval_run / "nearest.png").is_file()
    assert result["memorization"]["latent_walks"]["jump_ratio_median"] >= 1
    assert result["scores"]["ppl_z"] > 0 and "epsilon 0.0001" in result["protocol"]["ppl_z_protocol"]


def test_eval_of_a_samples_file(eval_run, tmp_path, capsys):
    npz = tmp_path / "s.npz"
    run_cli("sample", eval_run, "--n", "100", "--labels", "all", "--out", npz)
    run_cli("eval", "--samples", npz, "--dataset", "digits", "--no-memorization")
    assert "label accuracy" in capsys.readouterr().out


def test_sample_uses_best_unless_told(eval_run, tmp_path):
    a, b, c = (tmp_path / f"{n}.npz" for n in "abc")
    run_cli("sample", eval_run, "--n", "16", "--out", a, "--labels", "all")
    run_cli("sample", eval_run, "--n", "16", "--out", b, "--labels", "all", "--checkpoint", "best")
    run_cli("sample", eval_run, "--n", "16", "--out", c, "--labels", "all", "--checkpoint", "last")
    ia, ib, ic = (np.load(p)["images"] for p in (a, b, c))
    assert np.array_equal(ia, ib)
    _, best = ckpt.load(eval_run / "checkpoints" / "best.safetensors")
    _, last = ckpt.load(eval_run / "checkpoints" / "last.safetensors")
    assert np.array_equal(ia, ic) == (best["step"] == last["step"])


def test_report_is_one_html_page(eval_run, capsys):
    run_cli("report", eval_run)
    page = (eval_run / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "FID during training" in page
    assert "Nearest training images" in page and page.count("data:image/png;base64,") >= 5


def test_eval_mistakes_are_one_line_errors(eval_run, tmp_path, capsys, monkeypatch):
    assert "one of them" in error_of(capsys, "eval")
    assert "needs --dataset" in error_of(capsys, "eval", "--samples", tmp_path / "x.npz")
    assert "cannot read" in error_of(capsys, "eval", "--samples", tmp_path / "x.npz", "--dataset", "digits")
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((20, 8, 8, 3), np.uint8))  # colour; digits are grey
    assert "shape" in error_of(capsys, "eval", "--samples", bad, "--dataset", "digits")
    np.save(tmp_path / "lone.npy", np.zeros((20, 8, 8), np.uint8))
    assert "single .npy array" in error_of(capsys, "eval", "--samples", tmp_path / "lone.npy", "--dataset", "digits")
    good = tmp_path / "good.npz"
    np.savez(good, images=np.zeros((200, 8, 8), np.uint8))
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:good.stat().st_size // 2])  # a copy cut short
    assert "cannot read" in error_of(capsys, "eval", "--samples", tmp_path / "cut.npz", "--dataset", "digits")
    assert "drop --dataset" in error_of(capsys, "eval", eval_run, "--dataset", "mnist")
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # as on a machine without it
    assert "torch-fidelity" in error_of(capsys, "eval", eval_run, "--extractor", "inception")


def test_eval_every_on_a_dataset_without_evaluator_fails_before_a_folder_exists(tmp_path, capsys):
    img = tmp_path / "imgs" / "a"
    img.mkdir(parents=True)
    from PIL import Image
    for i in range(4):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(img / f"{i}.png")
    err = error_of(capsys, "train", "--dataset", "folder", "--data-dir", tmp_path / "imgs", "--out",
                   tmp_path / "r", "--set", "eval_every=5", *FAST)
    assert "test split" in err and not (tmp_path / "r").exists()


def test_fewer_samples_than_a_training_batch_leave_d_unscored_and_the_json_strict(eval_run, capsys):
    def no_nan(token):
        raise AssertionError(f"eval.json holds {token}")

    run_cli("eval", eval_run, "--n", "10", "--no-memorization", "--ppl-n", "10")  # batches of 32
    assert "not scored: D judges whole training batches of 32" in capsys.readouterr().out
    result = json.loads((eval_run / "eval.json").read_text(), parse_constant=no_nan)
    assert "d_acc_fake" not in result["scores"]
    run_cli("report", eval_run, "--no-eval")  # reads that eval.json
    assert (eval_run / "nearest.png").is_file()  # an earlier evaluation's grid, not this one's: not shown
    assert "Nearest training images" not in (eval_run / "report.html").read_text()
