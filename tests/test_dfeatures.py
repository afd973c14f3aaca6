"""D as a feature extractor: the pooled layer features, the labelled subsets, and `gankit
features` end to end on digits with its one-line errors."""

import json

import pytest
import torch

from gankit.dfeatures import labelled_subset, layer_features, linear_accuracy
from gankit.models.dcgan import DCGANDiscriminator
from tests.test_cli import FAST, error_of, run_cli


def test_every_activation_layer_pooled_to_4x4():
    D = DCGANDiscriminator((1, 28, 28), width=8, depth=1)  # 8 @ 14x14, 8 @ 14x14, 16 @ 7x7
    f = layer_features(D, torch.randn(5, 1, 28, 28), batch=2)
    assert f.shape == (5, (8 + 8 + 16) * 16)
    assert D.training  # put back in the mode it was in


def test_labelled_subsets_are_per_class_and_fixed_by_seed():
    y = torch.arange(100) % 4
    idx = labelled_subset(y, 3, seed=1)
    assert len(idx) == 12 and torch.equal(torch.bincount(y[idx]), torch.full((4,), 3))
    assert torch.equal(idx, labelled_subset(y, 3, seed=1)) and not torch.equal(idx, labelled_subset(y, 3, seed=2))


def test_a_separable_problem_is_solved():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.randn(200, 5, generator=g) + 3 * y[:, None].float()
    assert linear_accuracy(x[:100], y[:100], x[100:], y[100:]) > 0.95


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("feat")
    run_cli("train", "dcgan", "--dataset", "digits", "--out", root / "dcgan", *FAST, "--set", "max_steps=5")
    run_cli("train", "cdcgan", "--dataset", "digits", "--out", root / "cdcgan", *FAST, "--set", "max_steps=2")
    run_cli("train", "vae", "--dataset", "digits", "--out", root / "vae", "--set", "max_steps=2", "--set", "width=8")
    return root


def test_features_prints_a_table_and_writes_json(runs, tmp_path, capsys):
    out = tmp_path / "f.json"
    run_cli("features", runs / "dcgan", "--labels-per-class", "3", "5", "--baselines", "--json", out)
    text = capsys.readouterr().out
    assert "D features" in text and "random D" in text and "pixels" in text
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 6 and all(0 <= r["accuracy"] <= 1 and r["errors"] <= 360 for r in rows)
    assert {r["feature_dim"] for r in rows if r["features"] == "pixels"} == {64}


def test_features_mistakes_are_one_line_errors(runs, capsys):
    assert "no discriminator" in error_of(capsys, "features", runs / "vae")
    assert "class labels" in error_of(capsys, "features", runs / "cdcgan")
    assert "at most that many" in error_of(capsys, "features", runs / "dcgan", "--labels-per-class", "1000")
    assert "positive" in error_of(capsys, "features", runs / "dcgan", "--labels-per-class", "0")
    assert "nope" in error_of(capsys, "features", runs / "nope")
    assert "--seeds must be in" in error_of(capsys, "features", runs / "dcgan", "--seeds", "0", str(2**40))
