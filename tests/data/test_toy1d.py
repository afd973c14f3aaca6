"""The 1-D datasets, the optimal discriminator's curves, and the figure a 1-D run writes."""

import json

import pytest
import torch

from gankit.data import DataSpec, load_dataset
from gankit.data.toy1d import density
from gankit.metrics.optimal_d import curves, kde
from tests.test_cli import run_cli


@pytest.mark.parametrize("name,means", [("gauss1d", [2.0]), ("mix1d", [-2.0, 2.0])])
def test_the_1d_datasets_are_the_mixtures_they_say(name, means):
    d = load_dataset(name, DataSpec(split="train"))
    assert d.kind == "points" and d.x.shape == (5000, 1) and d.x.dtype == torch.float32
    assert torch.equal(d.x, load_dataset(name, DataSpec(split="train")).x)  # fixed by seed
    for k, m in enumerate(means):
        part = d.x[d.labels == k, 0]
        assert abs(float(part.mean()) - m) < 0.05 and abs(float(part.std()) - 0.5) < 0.05
    x = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    assert abs(float(torch.trapezoid(density(name, x), x)) - 1) < 1e-6


def test_kde_and_the_optimal_d():
    g = torch.Generator().manual_seed(0)
    s = 2 + 0.5 * torch.randn(20000, generator=g)
    x = torch.linspace(0.5, 3.5, 50)
    assert torch.allclose(kde(s, x), density("gauss1d", x), atol=0.03)
    # G equal to the data: D* is 1/2 where there is mass; a D that says 1/2 has a gap near 0
    c = curves(lambda t: density("gauss1d", t), s, lambda t: torch.full((len(t),), 0.5), s)
    mid = [d for xi, d in zip(c["x"], c["d_star"]) if 1.5 < xi < 2.5]
    assert all(abs(d - 0.5) < 0.05 for d in mid) and c["gap"] < 0.03
    # G far from the data: D* is 1 on the data and 0 on G's samples
    far = curves(lambda t: density("gauss1d", t), s - 6, None, s)
    assert "d" not in far and max(far["d_star"]) > 0.99 and min(far["d_star"]) < 0.01


@pytest.mark.parametrize("model", ["gan", "wgan-gp"])
def test_a_1d_run_writes_the_optimal_d_figure(tmp_path, model):
    out = tmp_path / model
    run_cli("train", model, "--dataset", "mix1d", "--out", out, "--set", "max_steps=160",
            "--set", "batch_size=64", "--set", "log_every=50")
    rows = [json.loads(line) for line in (out / "optimal_d.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows][-1] == 160 and len(rows) >= 2
    assert ("d" in rows[-1]) == (model == "gan")  # a critic is no probability: D* alone
    assert (out / "optimal_d.png").stat().st_size > 1000 and (out / "samples" / "final.png").is_file()


def test_a_1d_run_is_evaluated(tmp_path, capsys):
    out = tmp_path / "g"
    run_cli("train", "gan", "--dataset", "gauss1d", "--out", out, "--set", "max_steps=20")
    run_cli("eval", out, "--n", "200", "--ppl-n", "50")
    text = capsys.readouterr().out
    assert "FID" in text and "modes captured" in text and "perceptual path length" in text
