import pytest
import torch

from gankit.metrics import memorization as mem


def _images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)


def test_nearest_finds_exact_copies_at_distance_zero():
    train = _images(300, 0)
    pick = torch.tensor([5, 17, 299, 0])
    d, i = mem.nearest(mem.pixels(train[pick]), mem.pixels(train))
    assert i.tolist() == pick.tolist()
    assert d.tolist() == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("candidates", [0, 8])  # fp32 search, and bf16 search + exact re-rank
def test_nearest_agrees_with_brute_force(monkeypatch, candidates):
    monkeypatch.setattr(mem, "BLOCK", 7)
    q, r = torch.randn(40, 5, dtype=torch.float64), torch.randn(90, 5, dtype=torch.float64)
    d, i = mem.nearest(q, r, candidates)
    full = torch.cdist(q, r)
    assert torch.equal(i, full.argmin(dim=1))
    assert torch.allclose(d, full.min(dim=1).values)


def test_copies_are_flagged_and_fresh_images_are_not():
    train, test = _images(400, 1), _images(100, 2)
    feats = lambda x: mem.pixels(x)[:, :16]  # noqa: E731 - any deterministic embedding will do
    copies = train[:50]
    m = mem.memorization(copies, train, test, feats(copies), feats(train), feats(test))
    assert m["pixel"]["near_copy_share"] == 1.0
    assert m["pixel"]["samples"]["q50"] == 0.0
    assert m["pairs"][0][2] == 0.0 and m["pairs"][0][1] == m["pairs"][0][0]
    fresh = _images(50, 3)
    m = mem.memorization(fresh, train, test, feats(fresh), feats(train), feats(test))
    assert m["pixel"]["near_copy_share"] < 0.1
    assert 0.8 < m["pixel"]["median_ratio"] < 1.2


def test_pairs_grid_alternates_sample_and_neighbour_rows():
    s, t = _images(3, 4), _images(5, 5)
    grid = mem.pairs_grid(s, t, [(0, 4, 0.1), (2, 1, 0.2)], columns=4)
    assert grid.shape == (8, 1, 8, 8)
    assert torch.equal(grid[0], s[0]) and torch.equal(grid[1], s[2])
    assert torch.equal(grid[4], t[4]) and torch.equal(grid[5], t[1])
    assert grid[2].sum() == 0 and grid[7].sum() == 0
