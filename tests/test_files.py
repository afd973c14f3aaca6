"""Atomic writes: the old file or the new one, never half; temp files removed; one-line errors."""

import pytest

from gankit.errors import UserError
from gankit.files import atomic_path, remove_temps, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    write_text_atomic(path, "new", durable=True)
    assert path.read_text() == "new"


def test_io_errors_become_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"^could not write checkpoint .*missing.*; free space$"):
        with atomic_path(tmp_path / "missing" / "x.bin", what="checkpoint ", hint="free space") as tmp:
            tmp.write_bytes(b"x")


def test_stale_temps_of_any_gankit_version_are_removed(tmp_path):
    (tmp_path / "keep.png").write_bytes(b"")
    (tmp_path / ".last.safetensors.tmp123").write_bytes(b"")  # gankit 0.1's name
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.png") as tmp:
            tmp.write_bytes(b"")
            (tmp_path / "stale").write_text(tmp.name)
            raise RuntimeError
    (tmp_path / f".x.png.1.abcd1234.tmp").write_bytes(b"")  # what a kill -9 leaves
    (tmp_path / ".tmpNekYoH").write_bytes(b"")  # safetensors' own, killed inside save_file
    (tmp_path / ".tmp_not_ours.txt").write_bytes(b"")  # not a writer's temporary name: kept
    remove_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp_not_ours.txt", "keep.png", "stale"]
