"""Device and precision resolution."""

import pytest
import torch

from gankit import device as device_mod
from gankit.errors import UserError


@pytest.mark.parametrize("name, message", [("gpu", "device must be"), ("cuda:abc", "device must be"),
                                           ("cuda:7", "has 2 CUDA GPU")])
def test_a_device_name_the_machine_lacks_is_a_user_error(monkeypatch, name, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UserError, match=message):
        device_mod.resolve_device(name)
    assert device_mod.resolve_device("cuda:1") == torch.device("cuda:1")


def test_auto_precision_is_bf16_on_images_and_fp32_on_points_where_bf16_exists(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device_mod, "bf16_supported", lambda d: True)
    assert device_mod.resolve_precision("auto", cpu) == "bf16"
    assert device_mod.resolve_precision("auto", cpu, "image") == "bf16"
    assert device_mod.resolve_precision("auto", cpu, "points") == "fp32"
    assert device_mod.resolve_precision("bf16", cpu, "points") == "bf16"  # asked for by name: kept
    monkeypatch.setattr(device_mod, "bf16_supported", lambda d: False)
    assert device_mod.resolve_precision("auto", cpu, "image") == "fp32"


def test_a_run_on_a_2d_mixture_trains_in_fp32_under_auto(monkeypatch, tmp_path):
    from gankit.algorithms import MODELS
    from gankit.config import build_config
    from gankit.data import DataSpec, load_dataset
    from gankit.runs import RunFolder
    from gankit.training.loop import Trainer

    monkeypatch.setattr(device_mod, "bf16_supported", lambda d: True)
    spec = MODELS.get("gan")
    data = load_dataset("ring8", DataSpec(split="train"))
    cfg = build_config("gan", spec.defaults, None, ["max_steps=1"], {"dataset": "ring8", "out": str(tmp_path / "r")},
                       spec.dataset_defaults, spec.algorithm.Options, spec.paper)
    trainer = Trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()), spec)
    assert trainer.precision == "fp32"
    trainer.run.unlock()
