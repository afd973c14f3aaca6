"""Latent vector arithmetic: group specs, the image attributes, the sum, and `gankit arithmetic`
end to end on digits for a plain, a conditional and a self-conditioned generator."""

import pytest
import torch
from PIL import Image

import gankit
from gankit.arithmetic import combine, ink, parse_spec, slant, typical
from gankit.errors import UserError
from tests.test_cli import FAST, error_of, run_cli


def test_specs_parse_and_mistakes_are_one_line_errors():
    names = ["T-shirt/top", "Trouser"]
    assert (parse_spec("class=1,thick", [], 10).klass, parse_spec("class=1,thick", [], 10).attribute) == (1, "thick")
    assert parse_spec("class=trouser", names, 2).klass == 1
    assert parse_spec("left", [], 10).attribute == "slant=left"
    for bad, words in (("class=12", "0..9"), ("thick,thin", "one attribute"), ("bold", "unknown term"), ("", "empty")):
        with pytest.raises(UserError, match=words):
            parse_spec(bad, [], 10)


def _line(shift: int) -> torch.Tensor:
    """A model-range 12x12 image of a one-pixel line from the bottom row to the top row whose top
    end is `shift` pixels right of its bottom end."""
    x = -torch.ones(1, 1, 12, 12)
    for r in range(12):
        x[0, 0, r, 6 + round(shift * (11 - r) / 11 - shift / 2)] = 1
    return x


def test_slant_and_ink_measure_what_they_say():
    assert slant(_line(6)) > 0.3 and slant(_line(-6)) < -0.3 and abs(float(slant(_line(0)))) < 1e-6
    thin, thick = _line(0), _line(0).clone()
    thick[0, 0, :, 7] = 1
    assert ink(thick) == 2 * ink(thin)


def test_combine_is_a_minus_b_plus_c_with_soft_classes():
    eye = torch.eye(3)
    z = [torch.full((2, 4), v) for v in (3.0, 1.0, 0.5)]
    out, soft = combine([(z[0], None), (z[1], None), (z[2], None)])
    assert torch.equal(out, torch.full((1, 4), 2.5)) and soft is None
    _, soft = combine([(z[0], eye[[0, 0]]), (z[1], eye[[0, 1]]), (z[2], eye[[2, 2]])])
    assert torch.allclose(soft, torch.tensor([[0.5, 0.0, 1.0]]) / 1.5)  # 1 - 0.5 + 0 clipped, rescaled


def test_typical_scales_the_noise_to_a_samples_length_and_leaves_the_codes():
    z = torch.randn(4, 10, generator=torch.Generator().manual_seed(0)) * 0.3
    out = typical(z, 7)
    assert torch.allclose(out[:, :7].norm(dim=1), torch.full((4,), 7 ** 0.5))
    assert torch.allclose(out[:, :7] / out[:, :7].norm(dim=1, keepdim=True), z[:, :7] / z[:, :7].norm(dim=1, keepdim=True))
    assert torch.equal(out[:, 7:], z[:, 7:])
    assert torch.allclose(typical(z, 50).norm(dim=1), torch.full((4,), 10 ** 0.5))  # n beyond the width: all of z


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    root = tmp_path_factory.mktemp("arith")
    run_cli("train", "dcgan", "--dataset", "digits", "--out", root / "dcgan", *FAST, "--set", "max_steps=5")
    run_cli("train", "cdcgan", "--dataset", "digits", "--out", root / "cdcgan", *FAST, "--set", "max_steps=5")
    run_cli("train", "dcgan", "--dataset", "digits", "--out", root / "selfcond", *FAST, "--set", "max_steps=5",
            "--set", "clusters=5")
    run_cli("train", "gan", "--dataset", "ring8", "--out", root / "ring", "--set", "max_steps=3")
    yield root
    mp.undo()


@pytest.mark.parametrize("model", ["dcgan", "cdcgan", "selfcond"])
def test_arithmetic_writes_four_rows_for_every_kind_of_generator(runs, tmp_path, model):
    out = tmp_path / "a.png"
    run_cli("arithmetic", runs / model, "thick", "thin", "slant=left", "--out", out, "--k", "3", "--pool", "40")
    with Image.open(out) as img:
        assert img.size[0] == img.size[1]  # four rows of k + 1 = 4 tiles
    r = gankit.load(runs / model).arithmetic("thick", "thin", "slant=left", k=3, pool=40)
    assert r.grid().shape == (16, 1, 8, 8) and r.z.shape[0] == 1
    assert (r.soft_label is None) == (model == "dcgan")
    n = min(gankit.load(runs / model).cfg.z_dim, r.z.shape[1])
    assert r.z[:, :n].norm().item() == pytest.approx(n ** 0.5, rel=1e-4)  # at a sample's length
    raw = gankit.load(runs / model).arithmetic("thick", "thin", "slant=left", k=3, pool=40, rescale=False)
    assert raw.z[:, :n].norm().item() != pytest.approx(n ** 0.5, rel=1e-3)  # as the means make it
    assert torch.allclose(raw.z[:, :n] / raw.z[:, :n].norm(), r.z[:, :n] / r.z[:, :n].norm(), atol=1e-5)


def test_raw_means_from_the_command_line(runs, tmp_path):
    out = tmp_path / "raw.png"
    run_cli("arithmetic", runs / "dcgan", "thick", "thin", "slant=left", "--out", out, "--k", "3", "--pool", "40",
            "--raw-means")
    assert out.exists()


def test_arithmetic_mistakes_are_one_line_errors(runs, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert "points" in error_of(capsys, "arithmetic", runs / "ring", "thick", "thin", "thick", "--out", out)
    assert "unknown term" in error_of(capsys, "arithmetic", runs / "dcgan", "bold", "thin", "thick", "--out", out)
    assert "--pool" in error_of(capsys, "arithmetic", runs / "dcgan", "thick", "thin", "thick", "--out", out,
                                "--k", "5", "--pool", "3")
    assert "nope" in error_of(capsys, "arithmetic", runs / "nope", "thick", "thin", "thick", "--out", out)
    assert "--seed must be in" in error_of(capsys, "arithmetic", runs / "dcgan", "thick", "thin", "thick", "--out", out,
                                          "--seed", "-1")


def test_a_class_group_takes_the_confident_samples_of_that_class():
    from gankit.arithmetic import select

    x = torch.cat([_line(0), _line(6), _line(-6), _line(0)])
    probs = torch.tensor([[0.9, 0.1], [0.95, 0.05], [0.2, 0.8], [0.5, 0.5]])
    assert select(parse_spec("class=0", [], 2), x, probs, 2).tolist() == [1, 0]  # most confident first
    assert select(parse_spec("class=0,slant=left", [], 2), x, probs, 1).tolist() == [0]
    with pytest.raises(UserError, match="only 1 of 4"):
        select(parse_spec("class=1", [], 2), x, probs, 2)
    with pytest.raises(UserError, match="no domain classifier"):
        select(parse_spec("class=1", [], 2), x, None, 1)
