"""The run folder's lock (one writing process per folder, never a stale lock) and a run's
training speed from its metrics rows."""

import fcntl
import math
import os

import pytest

from gankit.errors import UserError
from gankit.runs import RunFolder
from tests.helpers import config, image_data


def _create(path):
    data = image_data(n=16, size=8)
    return RunFolder.create(path, config("dcgan", out=str(path)), data.info())


def test_the_folder_is_locked_while_held_and_free_after(tmp_path):
    run = _create(tmp_path / "r")
    other = open(tmp_path / "r" / ".lock")  # another open file: flock treats it as another process
    with pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    run.unlock()
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # now the other holder has it
    with pytest.raises(UserError, match=f"another gankit process \\(pid {os.getpid()}\\) is using"):
        RunFolder.open(tmp_path / "r").lock()
    other.close()  # what the kernel does when that process dies, kill -9 included
    again = RunFolder.open(tmp_path / "r")
    again.lock()
    again.unlock()


def test_a_lone_lock_file_is_an_empty_folder(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / ".lock").write_text("12345\n")  # a crash right after the folder was made
    run = _create(tmp_path / "r")
    assert run.config_path.is_file()
    run.unlock()
    for sub in ("samples", "checkpoints"):  # what gankit 0.2 left when killed before config.json
        (tmp_path / "old" / sub).mkdir(parents=True)
    (tmp_path / "old" / ".lock").write_text("12345\n")
    _create(tmp_path / "old").unlock()
    (tmp_path / "kept" / "samples").mkdir(parents=True)
    (tmp_path / "kept" / "samples" / "epoch_0001.png").write_bytes(b"png")  # a run's work: never removed
    with pytest.raises(UserError, match="already exists"):
        _create(tmp_path / "kept")


def test_unwritable_logs_are_user_errors(tmp_path):
    run = _create(tmp_path / "r")
    run.unlock()
    run.metrics_path.mkdir()  # open(..., "a") on a folder fails like a read-only file would
    with pytest.raises(UserError, match="could not write .*metrics.jsonl"):
        run.append_metrics({"step": 1})


def test_a_row_file_cut_short_by_a_crash_reads_on(tmp_path):
    run = _create(tmp_path / "r")
    run.unlock()
    assert run.read_rows("curves.jsonl") == []
    run.append_row("curves.jsonl", {"step": 1, "x": [0.0, 1.0]})
    with open(run.path / "curves.jsonl", "a") as f:
        f.write('{"step": 2, "x": [0.')  # what a kill in the middle of a write leaves
    run.append_row("curves.jsonl", {"step": 3, "x": []})
    with open(run.path / "curves.jsonl", "a") as f:
        f.write("[" * 100_000 + "\n")  # no row gankit writes; json.loads would recurse past Python's limit
    assert [r["step"] for r in run.read_rows("curves.jsonl")] == [1, 3]


def test_a_creation_cut_short_leaves_no_folder(tmp_path, monkeypatch):
    def killed(self, cfg, data, notes=None):
        raise KeyboardInterrupt  # as if the process died before config.json was written
    monkeypatch.setattr(RunFolder, "write_config", killed)
    with pytest.raises(KeyboardInterrupt):
        _create(tmp_path / "r")
    assert list(tmp_path.iterdir()) == []  # no run, and no temporary folder either


def test_a_new_run_appears_whole_and_locked(tmp_path):
    run = _create(tmp_path / "runs" / "r")
    assert sorted(p.name for p in run.path.iterdir()) == [".lock", "checkpoints", "config.json", "samples"]
    assert [p.name for p in run.path.parent.iterdir()] == ["r"]
    with pytest.raises(UserError, match="another gankit process"):  # the lock moved with the folder
        other = open(run.path / ".lock")
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError("another gankit process holds it")
        finally:
            other.close()
    run.unlock()
    with pytest.raises(UserError, match="already exists; continue it with `gankit train --resume"):
        _create(tmp_path / "runs" / "r")


def test_temporary_folders_of_killed_creations_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".r.{dead.pid}.0a1b2c3d.tmp" / "samples").mkdir(parents=True)
    (tmp_path / f".r.{os.getpid()}.0a1b2c3d.tmp").mkdir()  # a creation in progress (this process)
    (tmp_path / f".other.{dead.pid}.0a1b2c3d.tmp").mkdir()  # another run's
    _create(tmp_path / "r").unlock()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".other.{dead.pid}.0a1b2c3d.tmp",
                                                          f".r.{os.getpid()}.0a1b2c3d.tmp", "r"]


def test_images_per_second_is_the_training_rows_images_over_their_time():
    from gankit.runs import images_per_second

    # 1,000 images at 100 img/s (10 s), an eval row, then 1,000 at 1,000 img/s (1 s): 2,000 in 11 s
    rows = [{"step": 10, "images": 1000, "img_per_s": 100.0}, {"step": 10, "eval": 1, "fid": 3.0},
            {"step": 20, "images": 2000, "img_per_s": 1000.0}]
    assert images_per_second(rows) == pytest.approx(2000 / 11)
    steady = [{"step": i, "images": 500 * i, "img_per_s": 250.0} for i in range(1, 5)]
    assert images_per_second(steady) == pytest.approx(250.0)
    assert math.isnan(images_per_second([{"step": 0, "eval": 1}]))
