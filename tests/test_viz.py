"""Image grids, PNG writing and the matplotlib plots of gankit.viz."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz import make_grid, plot_losses, plot_points, save_grid, save_png


def constant_images(values: list[int], c: int = 1, h: int = 3, w: int = 5) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, c, h, w).clone()


def test_grid_places_each_image_in_its_cell():
    grid = make_grid(constant_images([10, 20, 30, 40]), nrow=2, padding=2, pad_value=7)
    assert grid.dtype == torch.uint8 and grid.shape == (1, 2 * 5 + 2, 2 * 7 + 2)
    expected = torch.full_like(grid, 7)
    expected[:, 2:5, 2:7] = 10
    expected[:, 2:5, 9:14] = 20
    expected[:, 7:10, 2:7] = 30
    expected[:, 7:10, 9:14] = 40
    assert torch.equal(grid, expected)


def test_grid_short_last_row_and_rgb():
    imgs = constant_images([1, 2, 3], c=3, h=4, w=4)
    imgs[:, 1] += 100  # channels stay apart
    grid = make_grid(imgs, nrow=2, padding=1, pad_value=0)
    assert grid.shape == (3, 2 * 5 + 1, 2 * 5 + 1)
    assert torch.all(grid[0, 6:10, 1:5] == 3) and torch.all(grid[1, 6:10, 1:5] == 103)
    assert torch.all(grid[:, 6:10, 6:10] == 0)  # the empty cell is padding


def test_grid_without_padding_is_a_plain_tiling():
    imgs = torch.randint(0, 256, (6, 1, 2, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    grid = make_grid(imgs, nrow=3, padding=0)
    assert grid.shape == (1, 4, 9)
    assert torch.equal(grid[:, 2:4, 3:6], imgs[4])


def test_save_png_upscales_small_grey_images(tmp_path):
    img = torch.arange(64, dtype=torch.uint8).view(1, 8, 8) * 3
    path = tmp_path / "sub" / "digit.png"
    save_png(img, path)
    with Image.open(path) as pil:
        assert pil.mode == "L" and pil.size == (256, 256)  # 8 * 32
        arr = np.asarray(pil)
    assert arr[0, 0] == 0 and arr[255, 255] == 63 * 3 and arr[32 * 2, 32 * 5] == (2 * 8 + 5) * 3
    assert [p.name for p in path.parent.iterdir()] == ["digit.png"]  # no temp file left behind


def test_save_png_rgb_and_2d(tmp_path):
    rgb = torch.zeros(3, 30, 300, dtype=torch.uint8)
    rgb[0] = 255
    save_png(rgb, tmp_path / "rgb.png")
    with Image.open(tmp_path / "rgb.png") as pil:
        assert pil.mode == "RGB" and pil.size == (300, 30)  # wide enough: not scaled
        assert pil.getpixel((5, 5)) == (255, 0, 0)
    save_png(torch.full((5, 7), 9, dtype=torch.uint8), tmp_path / "hw.png", min_width=0)
    with Image.open(tmp_path / "hw.png") as pil:
        assert pil.mode == "L" and pil.size == (7, 5)
    with pytest.raises(ValueError):
        save_png(torch.zeros(1, 4, 4), tmp_path / "float.png")


def test_save_grid_default_rows(tmp_path):
    save_grid(constant_images(list(range(0, 160, 10)), h=8, w=8), tmp_path / "g.png")
    side = 4 * 10 + 2  # 4x4 grid of 8x8 cells with 2 px padding
    factor = math.ceil(256 / side)
    with Image.open(tmp_path / "g.png") as pil:
        assert pil.size == (side * factor, side * factor)


def _opens_as_png(path) -> None:
    assert path.stat().st_size > 1000
    with Image.open(path) as pil:
        assert pil.format == "PNG" and pil.size[0] > 100


def test_plot_losses_full_partial_single_and_empty(tmp_path):
    rows = [
        dict(step=s, epoch=s // 50, d_loss=1.3 - s / 400, g_loss=0.8 + s / 300, d_real=0.5 + s / 1000,
             d_fake=0.5 - s / 1000, d_acc_real=0.6, d_acc_fake=0.55, img_per_s=900.0)
        for s in range(0, 200, 2)
    ]
    plot_losses(rows, tmp_path / "full.png", title="dcgan on mnist")
    plot_losses([{"step": s, "g_loss": 1.0} for s in range(5)], tmp_path / "partial.png")
    plot_losses(rows[:1], tmp_path / "one.png")
    plot_losses([], tmp_path / "empty.png")
    for name in ["full", "partial", "one", "empty"]:
        _opens_as_png(tmp_path / f"{name}.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "full.png", "one.png", "partial.png"]


def test_plot_losses_of_a_model_without_d_draws_what_it_logs(tmp_path, monkeypatch):
    import gankit.viz as viz

    drawn = []
    monkeypatch.setattr(viz, "_save_figure", lambda fig, path: drawn.append(
        sorted(line.get_label() for ax in fig.axes for line in ax.get_lines() if not line.get_label().startswith("_"))))
    rows = [dict(step=s, epoch=0.1, images=s * 128, loss=100.0 - s, recon=80.0 - s, kl=20.0,
                 img_per_s=900.0, time_s=1.0) for s in range(10)] + [dict(step=10, eval=True, fid=3.0)]
    plot_losses(rows, tmp_path / "vae.png")
    assert drawn == [["kl", "loss", "recon"]]


def test_plot_losses_of_a_critic_draws_its_scores(tmp_path, monkeypatch):
    import gankit.viz as viz

    drawn = []
    monkeypatch.setattr(viz, "_save_figure", lambda fig, path: drawn.append(
        [(ax.get_ylabel(), sorted(line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")))
         for ax in fig.axes]))
    rows = [dict(step=s, d_loss=-0.1, g_loss=0.05, critic_real=0.1 + s, critic_fake=-0.2 - s, w_distance=0.3 + 2 * s,
                 gp=0.4, img_per_s=900.0) for s in range(10)]
    plot_losses(rows, tmp_path / "wgan.png")
    plot_losses([dict(r, d_real=0.6) for r in rows], tmp_path / "both.png")  # probabilities win where logged
    assert drawn == [[("loss", ["D loss", "G loss"]), ("critic score", ["W estimate", "critic(G(z))", "critic(x)"])],
                     [("loss", ["D loss", "G loss"]), ("probability / accuracy", ["D(x)"])]]


def test_plot_points(tmp_path):
    g = torch.Generator().manual_seed(0)
    plot_points(torch.randn(300, 2, generator=g), tmp_path / "p.png", title="ring")
    plot_points(np.zeros((3, 2)), tmp_path / "q.png", reference=torch.randn(50, 2, generator=g))
    _opens_as_png(tmp_path / "p.png")
    _opens_as_png(tmp_path / "q.png")
