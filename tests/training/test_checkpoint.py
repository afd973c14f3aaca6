"""Checkpoints: round trip, atomic writes, corruption and foreign or malicious files refused."""

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from gankit.errors import UserError
from gankit.files import remove_temps
from gankit.training import checkpoint as ckpt


def _tensors():
    return {"G.w": torch.arange(6, dtype=torch.float32).view(2, 3), "rng.torch": torch.arange(5, dtype=torch.uint8),
            "opt_g.0.step": torch.tensor(3.0)}


def test_round_trip(tmp_path):
    path = tmp_path / "last.safetensors"
    ckpt.save(path, _tensors(), {"step": 7, "config": {"model": "dcgan"}})
    tensors, meta = ckpt.load(path)
    assert meta["step"] == 7 and meta["config"] == {"model": "dcgan"}
    for k, v in _tensors().items():
        assert torch.equal(tensors[k], v)
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp files left


def test_optimizer_state_round_trip():
    p = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    flat: dict = {}
    meta = ckpt.flatten_optimizer("opt", opt, flat)
    again = torch.optim.Adam([p], lr=0.5)
    again.load_state_dict(ckpt.unflatten_optimizer("opt", meta, flat))
    assert again.param_groups[0]["lr"] == 0.1
    assert torch.equal(again.state[p]["exp_avg"], opt.state[p]["exp_avg"])


def test_flipped_byte_fails_the_checksum(tmp_path):
    path = tmp_path / "c.safetensors"
    ckpt.save(path, _tensors(), {"step": 1})
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # inside the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="checksum"):
        ckpt.load(path)


def test_truncated_file_is_corrupt(tmp_path):
    path = tmp_path / "c.safetensors"
    ckpt.save(path, _tensors(), {"step": 1})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(UserError, match="corrupt"):
        ckpt.load(path)


def test_foreign_safetensors_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="not a gankit checkpoint"):
        ckpt.load(path)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "last.safetensors"
    with open(path, "wb") as f:
        pickle.dump({"G.w": _Payload(marker)}, f)
    torch.save({"G.w": _Payload(marker)}, tmp_path / "torch_style.safetensors")
    for p in (path, tmp_path / "torch_style.safetensors"):
        with pytest.raises(UserError):
            ckpt.load(p)
    assert not marker.exists()


def test_write_failure_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    ckpt.save(path, _tensors(), {"step": 1})

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full_disk)
    with pytest.raises(UserError, match="No space left"):
        ckpt.save(path, _tensors(), {"step": 2})
    assert ckpt.load(path)[1]["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


def test_a_real_full_disk_is_a_user_error(tmp_path):
    """A file-size limit makes the kernel refuse the write (EFBIG) as a full disk would (ENOSPC);
    safetensors reports that as its own error type, which must still become a UserError."""
    resource = pytest.importorskip("resource")
    import signal

    path = tmp_path / "last.safetensors"
    ckpt.save(path, _tensors(), {"step": 1})
    big = {"G.w": torch.zeros(100_000)}
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, old_limit[1]))
    try:
        with pytest.raises(UserError, match="could not write checkpoint .*File too large") as e:
            ckpt.save(path, big, {"step": 2})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert "\n" not in str(e.value)
    assert ckpt.load(path)[1]["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


def _fake(folder, name):
    ckpt.save(folder / name, _tensors(), {"step": 0})


def test_keep_step_copy_prunes_only_old_step_files(tmp_path):
    _fake(tmp_path, "best.safetensors")
    last = tmp_path / "last.safetensors"
    for step in (100, 200, 300, 400):
        ckpt.save(last, _tensors(), {"step": step})
        ckpt.keep_step_copy(last, step, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best.safetensors", "last.safetensors", "step_00000300.safetensors", "step_00000400.safetensors"]
    assert ckpt.load(tmp_path / "step_00000300.safetensors")[1]["step"] == 300  # not the newer last
    ckpt.prune(tmp_path, keep=5, newer_than=300)  # a rollback to 300 abandons 400
    assert [s for s, _ in ckpt.step_checkpoints(tmp_path)] == [300]
    ckpt.keep_step_copy(last, 400, keep=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors", "last.safetensors"]


def test_read_meta_and_stale_temps(tmp_path):
    path = tmp_path / "last.safetensors"
    ckpt.save(path, _tensors(), {"step": 9})
    assert ckpt.read_meta(path)["step"] == 9
    assert ckpt.read_meta(tmp_path / "missing.safetensors") is None
    (tmp_path / ".last.safetensors.tmp123").write_bytes(b"half a checkpoint")
    remove_temps(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
