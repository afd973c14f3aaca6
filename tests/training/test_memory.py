"""The memory estimate, the refusal of a run that cannot fit, and running out of memory mid-run."""

import pytest

from gankit.algorithms import MODELS
from gankit.errors import UserError
from gankit.training import checkpoint as ckpt
from gankit.training import memory
from tests.helpers import TINY_RUN, build_models, config, image_data
from tests.test_cli import error_of


def test_the_estimate_counts_weights_exactly_and_bounds_activations_and_data():
    cfg, info = config("dcgan", image_size=8), image_data(n=64, size=8).info()
    parts = memory.estimate(cfg, MODELS.get("dcgan"), info, 64)
    G, D = build_models(cfg, info)
    params = sum(p.numel() for net in (G, D) for p in net.parameters())
    assert parts["weights"] == 4 * 5 * params  # weights, gradients, two moments, EMA
    assert parts["activations"] == 4 * 6 * (cfg.depth + 1) * cfg.width * 8 * 8 * 500  # evaluation's 500 > 16 x 3
    assert parts["data"] == 64 * 8 * 8


def test_a_run_that_cannot_fit_is_refused_with_the_estimate_and_what_to_lower(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device: 2**30)
    cfg, info = config("dcgan", batch_size=4096, width=256), image_data(n=64, size=64).info()
    with pytest.raises(UserError, match=r"^this run would need about \d+\.\d GiB \(weights .*, activations .*, data "
                       r".*\) but cpu has 1.0 GiB free; lower batch_size \(4096\) or width \(256\)") as e:
        memory.check(cfg, MODELS.get("dcgan"), info, 64, __import__("torch").device("cpu"))
    assert "\n" not in str(e.value)


def test_train_refuses_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device: 2**30)
    err = error_of(capsys, "train", "--out", tmp_path / "r", *TINY_RUN, "--set", "width=1024", "--set", "batch_size=4096")
    assert "this run would need about" in err and "lower batch_size (4096)" in err
    assert not (tmp_path / "r").exists()


def test_running_out_of_memory_mid_run_is_one_line_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    from gankit.training.loop import Trainer

    real = Trainer.iteration

    def iteration(self, stats):
        if self.step == 5:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                               "you tried to allocate 1099511627776 bytes.")
        real(self, stats)
    monkeypatch.setattr(Trainer, "iteration", iteration)
    out = tmp_path / "r"
    err = error_of(capsys, "train", "--out", out, *TINY_RUN, "--set", "max_steps=10", "--set", "checkpoint_every=2")
    assert err == ("gankit: error: out of memory at step 5; checkpoints/last.safetensors keeps step 4; start a new "
                   "run with lower batch_size (16) or width (8) or image_size (8) or grid_size (4) (or free memory "
                   "and `gankit train --resume`)")
    assert ckpt.load(out / "checkpoints" / "last.safetensors")[1]["step"] == 4


def test_what_counts_as_out_of_memory():
    assert memory.is_out_of_memory(MemoryError())
    assert memory.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not memory.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
