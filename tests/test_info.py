"""gankit info: what the machine can do, measured."""

import pytest
import torch

from gankit import device as device_mod
from gankit import info
from gankit.cli import main


def test_precision_reason_says_what_auto_picks_and_why(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device_mod, "bf16_supported", lambda d: True)
    assert info.precision_reason(cpu).startswith("bf16: the CPU has bf16 arithmetic")
    monkeypatch.setattr(device_mod, "bf16_supported", lambda d: False)
    assert info.precision_reason(cpu).startswith("fp32: the CPU has no bf16 arithmetic")


def test_matmul_rate_is_a_measured_positive_rate():
    rate = info.matmul_rate(torch.float32, torch.device("cpu"), 0.01, n=64)
    assert 0 < rate < 1e6  # GFLOP/s: a 2-core CPU does not reach a PFLOP/s


def test_training_rate_runs_the_defaults_of_the_model_and_dataset():
    rate, trainer = info.training_rate("dcgan", "digits", (1, 8, 8), 1437, torch.device("cpu"), 0.01)
    assert rate > 0
    assert trainer.cfg.batch_size == 32 and trainer.cfg.g_steps == 1 and trainer.cfg.depth == 0  # digits' recipe
    assert trainer.budget.epochs == 60  # ~86k images of the 1437 digits


def test_busy_note_warns_only_when_the_load_exceeds_the_cores(monkeypatch):
    monkeypatch.setattr(info.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert info.busy_note() == ""
    monkeypatch.setattr(info.os, "getloadavg", lambda: (500.0, 0.2, 0.2))
    assert info.busy_note().startswith("busy: load average 500.0")


def test_gankit_info_prints_the_machine_and_the_speeds(capsys, monkeypatch):
    monkeypatch.setattr(info, "training_rate", lambda *a: (1234.0, _FakeTrainer()))
    main(["info", "--seconds", "0.1"])
    out = capsys.readouterr().out
    for expected in ("PyTorch", "CPU: ", "device=auto picks cpu; precision=auto picks", "matmul 1024x1024",
                     "default first run", "1234 img/s", "dcgan on mnist"):
        assert expected in out, expected


def test_gankit_info_refuses_a_bad_duration(capsys):
    with pytest.raises(SystemExit) as e:
        main(["info", "--seconds", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == "gankit: error: --seconds must be between 0.1 and 600, got 0"


class _FakeTrainer:
    precision = "fp32"

    class sampler:
        bs = 64

    class budget:
        epochs = 60


def test_auto_device_is_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device_mod.resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device_mod.resolve_device("auto").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_mod.resolve_device("auto").type == "cuda"
