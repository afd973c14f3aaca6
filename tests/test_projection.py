"""Projection into a generator: the recipe's schedules, a known latent recovered, and `gankit
project` end to end on digits with its one-line errors."""

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.errors import NoClassifier, UserError
from gankit.projection import lr_schedule, noise_scale, project
from tests.test_cli import FAST, error_of, run_cli


def test_the_schedules_ramp_as_the_projector_does():
    assert lr_schedule(0, 100, 0.1) == 0.0  # ramp up from zero over the first 5%
    assert lr_schedule(5, 100, 0.1) == pytest.approx(0.1)
    assert lr_schedule(50, 100, 0.1) == pytest.approx(0.1)
    assert 0 < lr_schedule(90, 100, 0.1) < 0.1 and lr_schedule(100, 100, 0.1) == pytest.approx(0.0)
    assert noise_scale(0, 100, 10.0) == pytest.approx(0.5)  # 0.05 x the spread
    assert noise_scale(75, 100, 10.0) == 0.0 and noise_scale(90, 100, 10.0) == 0.0
    assert 0 < noise_scale(40, 100, 10.0) < 0.5


def test_a_latent_of_a_smooth_generator_is_found_again():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(8, 36, generator=g) / 3

    def gen(z, labels=None):
        return torch.tanh(z @ W).view(len(z), 1, 6, 6)
    z_true = torch.randn(3, 8, generator=g) * 0.7
    target = gen(z_true)
    start = ((gen(torch.zeros(3, 8)) - target) ** 2).flatten(1).mean(1)
    p = project(gen, lambda m, gen_: torch.randn(m, 8, generator=gen_), target, None, steps=300, starts=0)
    assert p.z.shape == (3, 8) and p.images.shape == (3, 1, 6, 6) and p.labels is None
    assert (p.pixel < 0.02 * start).all()  # the mean latent's image was far; the projection is close
    assert p.progress.shape[:2] == (8, 3) and len(p.history) == 300
    assert torch.equal(p.feature, torch.zeros(3))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    root = tmp_path_factory.mktemp("proj")
    run_cli("train", "dcgan", "--dataset", "digits", "--out", root / "dcgan", *FAST, "--set", "max_steps=30")
    run_cli("train", "cdcgan", "--dataset", "digits", "--out", root / "cdcgan", *FAST, "--set", "max_steps=10")
    run_cli("train", "gan", "--dataset", "ring8", "--out", root / "ring", "--set", "max_steps=3")
    from gankit.data import DataSpec, load_dataset

    test = load_dataset("digits", DataSpec(split="test"))
    for i in range(2):
        Image.fromarray(test.x[i, 0].numpy()).save(root / f"d{i}.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(root / "wide.png")
    Image.fromarray(np.stack([test.x[0, 0].numpy()] * 2 + [np.zeros((8, 8), np.uint8)], -1)).save(root / "colour.png")
    (root / "junk.png").write_bytes(b"not an image")
    yield root
    mp.undo()


def test_project_writes_the_image_latents_and_strip(runs, tmp_path, capsys):
    out = tmp_path / "p"
    run_cli("project", runs / "dcgan", runs / "d0.png", runs / "d1.png", "--out", out, "--steps", "20")
    assert "feature distance" in capsys.readouterr().out
    with np.load(out / "latents.npz") as f:
        assert f["z"].shape == (2, 16) and f["loss"].shape == (2,) and len(f["history"]) == 20
        assert list(f["files"]) == [str(runs / "d0.png"), str(runs / "d1.png")]
    with Image.open(out / "progress.png") as img:  # 2 rows of target + 8 snapshots
        assert img.size[0] > img.size[1] * 3
    assert (out / "projected.png").is_file()


def test_a_conditional_model_projects_at_a_class_it_finds_or_is_given(runs):
    m = gankit.load(runs / "cdcgan")
    x = np.array(Image.open(runs / "d0.png"))[None]
    p = m.project(x, steps=5, starts=2)
    assert p.labels is not None and 0 <= int(p.labels[0]) < 10
    assert int(m.project(x, steps=5, label=4, starts=2).labels[0]) == 4


def test_project_mistakes_are_one_line_errors(runs, tmp_path, capsys):
    out = tmp_path / "p"
    cases = [((runs / "nope", runs / "d0.png"), "nope"),
             ((runs / "dcgan", runs / "missing.png"), "no image file"),
             ((runs / "dcgan", runs / "wide.png"), "9x8 pixels"),
             ((runs / "dcgan", runs / "colour.png"), "colour image"),
             ((runs / "dcgan", runs / "junk.png"), "cannot read"),
             ((runs / "ring", runs / "d0.png"), "points"),
             ((runs / "dcgan", runs / "d0.png", "--label", "3"), "not class-conditional"),
             ((runs / "dcgan", runs / "d0.png", "--seed", str(2**70)), "--seed must be in")]
    for args, words in cases:
        assert words in error_of(capsys, "project", *args, "--out", out, "--steps", "2")


@pytest.mark.parametrize("error, why", [
    (UserError("no MNIST files in /nowhere; pass --data-dir"), "no MNIST files in /nowhere; pass --data-dir"),
    # no classifier for the data: the reason, without eval's "use --extractor inception"
    (NoClassifier("no domain classifier for dataset 'x'"), "no domain classifier for dataset 'x'"),
])
def test_without_the_domain_classifier_it_projects_in_pixels_and_says_why(runs, monkeypatch, error, why):
    from gankit.metrics import features

    def missing(*args, **kwargs):
        raise error
    monkeypatch.setattr(features, "make_extractor", missing)
    x = np.array(Image.open(runs / "d0.png"))[None]
    p = gankit.load(runs / "dcgan").project(x, steps=2, starts=0)
    assert p.feature_space == f"none (pixels only: {why})"
    assert str(NoClassifier("why")) == "why; use --extractor inception"  # what eval says


def test_projection_options_are_checked(runs):
    m, x = gankit.load(runs / "dcgan"), np.array(Image.open(runs / "d0.png"))[None]
    for options, words in [({"start": 2}, "unknown projection option start"), ({"starts": -1}, "starts must be"),
                           ({"snapshots": 0}, "snapshots in 1..1000"), ({"lr": 0}, "lr must be positive")]:
        with pytest.raises(UserError, match=words):
            m.project(x, steps=2, **options)
