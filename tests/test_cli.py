"""The command line end to end on scikit-learn's digits, into temporary folders."""

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main

FAST = ["--set", "width=8", "--set", "z_dim=16", "--set", "batch_size=32", "--set", "log_every=5",
        "--set", "device=cpu"]


def run_cli(*args):
    main([str(a) for a in args])


def error_of(capsys, *args) -> str:
    with pytest.raises(SystemExit) as e:
        run_cli(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def cdcgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "c"
    run_cli("train", "cdcgan", "--dataset", "digits", "--epochs", "2", "--out", out, *FAST)
    return out


def test_train_writes_a_complete_run_folder(cdcgan_run):
    names = {p.name for p in cdcgan_run.iterdir()}
    assert {"config.json", "log.txt", "metrics.jsonl", "samples", "losses.png", "checkpoints"} <= names
    assert (cdcgan_run / "samples" / "epoch_0002.png").is_file()
    assert (cdcgan_run / "checkpoints" / "last.safetensors").is_file()


def test_sample_npz_contract_for_conditional_models(cdcgan_run, tmp_path):
    out = tmp_path / "s.npz"
    run_cli("sample", cdcgan_run, "--n", 25, "--labels", "all", "--out", out, "--grid", tmp_path / "g.png")
    z = np.load(out)
    assert z["images"].dtype == np.uint8 and z["images"].shape == (25, 8, 8)
    assert z["labels"].dtype == np.int64 and z["labels"].tolist() == [i % 10 for i in range(25)]
    assert Image.open(tmp_path / "g.png").size[0] >= 64
    run_cli("sample", cdcgan_run, "--n", 4, "--label", 7, "--out", out)
    assert np.load(out)["labels"].tolist() == [7, 7, 7, 7]


def test_sample_is_deterministic_per_seed(cdcgan_run, tmp_path):
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    run_cli("sample", cdcgan_run, "--n", 8, "--labels", "all", "--out", a)
    run_cli("sample", cdcgan_run, "--n", 8, "--labels", "all", "--out", b)
    run_cli("sample", cdcgan_run, "--n", 8, "--labels", "all", "--out", c, "--seed", 1)
    assert np.array_equal(np.load(a)["images"], np.load(b)["images"])
    assert not np.array_equal(np.load(a)["images"], np.load(c)["images"])


def test_interpolate_writes_rows(cdcgan_run, tmp_path):
    out = tmp_path / "i.png"
    run_cli("interpolate", cdcgan_run, "--out", out, "--steps", 6, "--rows", 4, "--slerp")
    w, h = Image.open(out).size
    assert w > h  # 6 columns, 4 rows


def test_unconditional_sample_and_resume(tmp_path, capsys):
    out = tmp_path / "u"
    run_cli("train", "dcgan", "--epochs", "1", "--out", out, *FAST)
    run_cli("train", "--resume", out, "--epochs", "2", "--threads", "1")
    assert "resuming" in capsys.readouterr().out
    assert (out / "samples" / "epoch_0002.png").is_file()
    assert json.loads((out / "config.json").read_text())["config"]["threads"] == 1  # the new machine's count is kept
    assert "threads must be" in error_of(capsys, "train", "--resume", out, "--threads", "0")
    run_cli("sample", out, "--n", 3, "--out", tmp_path / "u.npz")
    z = np.load(tmp_path / "u.npz")
    assert z["images"].shape == (3, 8, 8) and "labels" not in z
    err = error_of(capsys, "sample", out, "--n", 3, "--label", 1, "--out", tmp_path / "x.npz")
    assert "not class-conditional" in err


def test_points_dataset_trains_and_samples(tmp_path):
    out = tmp_path / "p"
    run_cli("train", "gan", "--dataset", "ring8", "--out", out, "--set", "max_steps=20", *FAST)
    run_cli("sample", out, "--n", 10, "--out", tmp_path / "p.npz")
    assert np.load(tmp_path / "p.npz")["points"].shape == (10, 2)


def test_user_mistakes_are_one_line_errors_and_leave_no_folder(tmp_path, capsys):
    out = tmp_path / "never"
    assert "did you mean 'dcgan'" in error_of(capsys, "train", "dcgn", "--out", out)
    assert "unknown dataset" in error_of(capsys, "train", "--dataset", "imagenet", "--out", out)
    assert "--data-dir" in error_of(capsys, "train", "--dataset", "mnist", "--data-dir", tmp_path / "nothing", "--out", out)
    assert "unknown config key" in error_of(capsys, "train", "--set", "learning_rate=1", "--out", out)
    assert "works on image" in error_of(capsys, "train", "cdcgan", "--dataset", "ring8", "--out", out)
    assert not out.exists()
    assert "not a gankit run folder" in error_of(capsys, "sample", tmp_path, "--out", tmp_path / "s.npz")
    assert "does not exist" in error_of(capsys, "sample", tmp_path, "--out", tmp_path / "no" / "s.npz")
    assert "must end in .npz" in error_of(capsys, "sample", tmp_path, "--out", tmp_path / "s.png")
    assert "--grid must end in .png" in error_of(capsys, "sample", tmp_path, "--out", tmp_path / "s.npz",
                                                 "--grid", tmp_path / "s.jpg")  # before anything is drawn
    assert not (tmp_path / "s.npz").exists()


def test_existing_run_folder_is_not_overwritten(cdcgan_run, capsys):
    assert "--resume" in error_of(capsys, "train", "cdcgan", "--dataset", "digits", "--out", cdcgan_run)


def test_listings(capsys):
    run_cli("models")
    out = capsys.readouterr().out
    for name in ("gan", "simplegan", "dcgan", "wgan", "wgan-gp", "cgan", "cdcgan"):
        assert f"\n{name} " in "\n" + out
    run_cli("datasets")
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "digits", "folder", "ring8", "grid25"):
        assert name in out


def test_real_process_prints_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gankit", "train", "nosuchmodel"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("gankit: error: unknown model") and "Traceback" not in r.stderr
    # a reader that stops early (`gankit models | head -1`), with every print written at once
    r = subprocess.run(f"'{sys.executable}' -m gankit models | head -1", shell=True, capture_output=True, text=True,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert r.stdout.startswith("gan ") and r.stdout.count("\n") == 1 and r.stderr == ""


def test_full_disk_mid_run_keeps_the_last_checkpoint_and_resumes(tmp_path, capsys, monkeypatch):
    from gankit.training import checkpoint

    real, calls = checkpoint.save_file, []

    def fills_up(*a, **k):  # the disk is full from the second checkpoint on
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(checkpoint, "save_file", fills_up)
    out = tmp_path / "full"
    err = error_of(capsys, "train", "--out", out, "--set", "max_steps=20", "--set", "checkpoint_every=5", *FAST)
    assert "could not write checkpoint" in err and "No space left on device" in err
    assert checkpoint.load(out / "checkpoints" / "last.safetensors")[1]["step"] == 5
    assert not list((out / "checkpoints").glob(".*"))  # no temp file left
    monkeypatch.undo()  # space freed: the run continues from step 5
    run_cli("train", "--resume", out)
    assert checkpoint.load(out / "checkpoints" / "last.safetensors")[1]["step"] == 20


def test_a_second_process_on_the_same_run_is_refused(tmp_path, capsys):
    out = tmp_path / "locked"
    run_cli("train", "gan", "--dataset", "ring8", "--out", out, "--set", "max_steps=4", *FAST)
    hold = ("import sys; from gankit.runs import RunFolder; RunFolder(sys.argv[1]).lock(); "
            "print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        err = error_of(capsys, "train", "--resume", out)
        assert f"another gankit process (pid {holder.pid}) is using {out}" in err
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock with the process
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    run_cli("train", "--resume", out)
    assert "resuming" in capsys.readouterr().out


def test_a_resume_budget_replaces_every_old_limit(tmp_path, capsys):
    out = tmp_path / "b"
    run_cli("train", "dcgan", "--out", out, *FAST, "--set", "max_steps=2")
    capsys.readouterr()
    run_cli("train", "--resume", out, "--epochs", "1")  # max_steps=2 was reached: it must not end the resume
    assert "done (finished 1 epochs)" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["config"]["max_steps"] is None
    assert "drop --seed" in error_of(capsys, "train", "--resume", out, "--seed", "0")  # 0 is a value, not absent


def test_flags_for_evaluation_and_reliability_keys(tmp_path):
    out = tmp_path / "r"
    run_cli("train", "gan", "--dataset", "ring8", "--out", out, "--keep", "1", "--on-divergence", "warn",
            "--eval-every", "7", "--threads", "1", *FAST, "--set", "max_steps=8")
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert (cfg["keep"], cfg["on_divergence"], cfg["eval_every"], cfg["threads"]) == (1, "warn", 7, 1)


def test_preset_paper_is_named_in_the_banner_config_json_and_models(tmp_path, capsys):
    out = tmp_path / "p"
    run_cli("train", "gan", "--dataset", "ring8", "--preset", "paper", "--out", out, "--set", "max_steps=3", *FAST)
    printed = capsys.readouterr().out
    assert "preset paper: Goodfellow et al. 2014" in printed
    assert "gankit's defaults (--preset gankit) would add on top of it" in printed
    body = json.loads((out / "config.json").read_text())
    assert body["config"]["preset"] == "paper" and body["config"]["optimizer"] == "sgd"
    assert body["preset"]["name"] == "paper" and body["preset"]["gankit_adds"]["optimizer"] == ["adam", "sgd"]
    assert "preset paper" in (out / "log.txt").read_text()
    assert "--resume continues the saved config" in error_of(capsys, "train", "--resume", out, "--preset", "gankit")
    run_cli("train", "--resume", out, "--threads", "1")  # a rewritten config.json keeps the preset section
    assert json.loads((out / "config.json").read_text())["preset"]["name"] == "paper"
    run_cli("models")
    listing = capsys.readouterr().out
    assert "--preset paper: Radford et al. 2015" in listing and "--preset gankit (default) adds" in listing


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
CONFIG_FILES = {  # name -> bytes: the review's malformed --config files
    "laughs.yaml": LAUGHS.encode(),
    "flow.yaml": b"lr_d: " + b"[" * 50_000 + b"]" * 50_000,
    "block.yaml": "".join(" " * i + f"k{i}:\n" for i in range(500)).encode(),
    "deep.json": b'{"lr_d": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "latin1.yaml": "lr_d: 0.001  # r\xe9glage\n".encode("latin-1"),
    "binary.yaml": bytes(range(256)) * 4,
    "seed.yaml": f"seed: {2**64}\n".encode(),
}


@pytest.mark.parametrize("argv,message", [
    (["--set", "image_size=1024"], "image_size must be at most 512"),
    (["--set", "image_size=4096"], "image_size must be at most 512"),
    (["--set", "z_dim=1e9"], "must be int, got '1e9' (write 1000000000 as an integer)"),
    (["--set", "z_dim=1000000000"], "z_dim must be at most 4,096"),
    (["--set", "width=100000"], "width must be at most 1,024"),
    (["--set", "grid_size=1000000000"], "grid_size must be at most 10,000"),
    (["--set", "threads=100000"], "threads must be at most 1,024"),
    (["--seed", str(2**64)], "seed must be at most 4,294,967,295"),
    (["--set", "d_steps=1000000000"], "d_steps must be at most 1,000"),
    (["--set", "eval_samples=10000000000"], "eval_samples must be at most 100,000"),
    (["--config", "laughs.yaml"], "expands to more than 100000 values"),
    (["--config", "flow.yaml"], "nests deeper than 32 levels"),
    (["--config", "block.yaml"], "nests deeper than 32 levels"),
    (["--config", "deep.json"], "nests 100001 levels deep"),
    (["--config", "latin1.yaml"], "is not UTF-8 text (byte 0xe9 at offset 16)"),
    (["--config", "binary.yaml"], "is not UTF-8 text (byte 0x80 at offset 128)"),
    (["--config", "seed.yaml"], "seed must be at most 4,294,967,295"),
    (["--out", "runs/r\udcff"], "argument runs/r\\udcff is not UTF-8"),
])
def test_the_reviews_configurations_are_one_line_errors_at_once(tmp_path, capsys, monkeypatch, argv, message):
    import time

    for name, body in CONFIG_FILES.items():
        (tmp_path / name).write_bytes(body)
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    assert message in error_of(capsys, "train", *argv)
    assert time.perf_counter() - t0 < 5
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv,message", [
    (["sample", "RUN", "--out", "s.npz", "--seed", str(2**64)], "--seed must be in 0..4,294,967,295"),
    (["sample", "RUN", "--out", "s.npz", "--n", str(10**10)], "--n must be in 1..1,000,000"),
    (["interpolate", "RUN", "--out", "i.png", "--steps", str(10**9)], "--steps must be in 2..1,000"),
    (["eval", "RUN", "--n", str(10**10)], "--n must be in 10..100,000"),
])
def test_sizes_and_seeds_of_the_other_commands_are_bounded(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert message in error_of(capsys, *argv)
