"""`--preset paper`: every model has an entry, the paper's settings and networks apply under it,
and the words that say what gankit's defaults add are right."""

import pytest
import torch

from gankit.algorithms import MODELS
from gankit.algorithms.papers import PAPERS
from gankit.config import TrainConfig, build_config
from gankit.models.maxout import MaxoutDiscriminator
from gankit.models.mlp import MLPDiscriminator
from gankit.runs import RunFolder
from tests.helpers import build_models, config, image_data, make_trainer, point_data

NO_PAPER = ("simplegan", "autoencoder")  # gankit's own models: both presets are its defaults


def test_every_model_has_a_paper_preset_entry():
    assert set(PAPERS) == set(MODELS.names())
    for name, spec in MODELS:
        if name in NO_PAPER:
            assert spec.paper == {} and "no paper" in spec.preset_lines("paper", "mnist")[0]
            continue
        assert spec.paper and spec.paper_note, name
        assert all(k in TrainConfig.__dataclass_fields__ or k in spec.algorithm.Options.__dataclass_fields__
                   for k in spec.paper), name


@pytest.mark.parametrize("model", [m for m in MODELS.names() if m not in NO_PAPER])
def test_the_paper_preset_puts_the_papers_settings_over_gankits(model):
    spec = MODELS.get(model)
    dataset = "mnist" if "image" in spec.kinds else "ring8"
    cfg = build_config(model, spec.defaults, None, [], {"dataset": dataset, "preset": "paper"},
                       spec.dataset_defaults, spec.algorithm.Options, spec.paper)
    assert cfg.preset == "paper"
    for key, value in spec.paper.items():
        got = cfg.options[key] if key in cfg.options else getattr(cfg, key)
        assert got == value, key
    ours = build_config(model, spec.defaults, None, [], {"dataset": dataset}, spec.dataset_defaults,
                        spec.algorithm.Options, spec.paper)
    for key, (mine, theirs) in spec.gankit_adds(dataset).items():
        got = ours.options[key] if key in ours.options else getattr(ours, key)
        assert got == mine != theirs, key


@pytest.mark.parametrize("model", [m for m in MODELS.names() if m not in NO_PAPER])
def test_every_paper_preset_trains_an_iteration(model, tmp_path):
    spec = MODELS.get(model)
    data = image_data(n=32, size=8, classes=10 if spec.conditional else 0) if "image" in spec.kinds \
        else point_data()
    if model in ("acgan", "infogan", "ssgan"):  # they need labels (ssgan shows D some of them)
        data = image_data(n=32, size=8)
    kw = {**spec.paper, "preset": "paper", "batch_size": 16, "width": 8, "z_dim": 16}
    own = {k: kw.pop(k) for k in list(kw) if k in spec.algorithm.Options.__dataclass_fields__}
    cfg = config(model, out=str(tmp_path / "r"), precision="fp32", options=own, **kw)
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    stats = {}
    trainer.iteration(stats)
    assert stats and all(torch.isfinite(v).all() for v in stats.values() if torch.is_tensor(v))


@pytest.mark.parametrize("model", ["gan", "cgan"])
def test_the_2014_papers_networks_under_the_paper_preset(model):
    data = image_data(n=8, size=28)
    _, ours = build_models(config(model), data.info())
    G, theirs = build_models(config(model, preset="paper"), data.info())
    assert isinstance(ours, MLPDiscriminator) and isinstance(theirs, MaxoutDiscriminator)
    assert [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)] == [1200, 1200, 784]
    labels = data.labels[:4] if model == "cgan" else None
    assert theirs(torch.randn(4, 1, 28, 28), labels).shape == (4,)
    assert theirs.net[1].linear.out_features == 240 * 5  # maxout: 240 units of 5 pieces


def test_the_words_name_the_preset_and_what_gankit_adds():
    spec = MODELS.get("dcgan")
    ours = spec.preset_lines("gankit", "mnist")
    assert ours[0].startswith("preset gankit") and "clusters=200 (paper 0)" in ours[0]
    assert "Radford" in ours[0] and "on mnist" in ours[0]
    paper = spec.preset_lines("paper", "mnist")
    assert paper[0].startswith("preset paper: Radford") and "lr_d=0.002 (paper 0.0002)" in paper[1]
    assert "gankit's own networks" in MODELS.get("gan").preset_lines("gankit", "mnist")[0]
