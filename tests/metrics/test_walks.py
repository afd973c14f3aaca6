"""Memorization by latent walks: the jump ratio of smooth walks and of walks that replay images."""

import torch

from gankit.metrics.walks import jump_ratios, walk_report


def test_a_walk_of_equal_steps_scores_one_and_a_replaying_walk_scores_steps_over_jumps():
    t = torch.linspace(0, 1, 9)
    smooth = torch.stack([t, torch.zeros(9)], 1)[None]  # (1, 9, 2): eight equal steps
    assert torch.allclose(jump_ratios(smooth), torch.tensor([1.0], dtype=torch.float64))
    held = torch.tensor([[0.0, 0.0]] * 4 + [[1.0, 0.0]] * 5)[None]  # still, one jump, still
    assert torch.allclose(jump_ratios(held), torch.tensor([8.0], dtype=torch.float64))
    assert jump_ratios(torch.zeros(1, 5, 2)).item() == 1.0  # a walk that never moves


def test_the_report_compares_the_walk_with_its_nearest_training_images():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 1, 6, generator=g), torch.randn(4, 1, 6, generator=g)
    t = torch.linspace(0, 1, 10).view(1, -1, 1)
    walk = a + (b - a) * t + 3  # far from the origin, so unit scaling keeps the steps nearly equal
    idx = (t.view(1, -1) > 0.5).long().expand(4, -1) + 2 * torch.arange(4)[:, None]
    replay = torch.where((t > 0.5), b, a).expand(4, 10, 6) + 3
    r = walk_report(walk, replay, idx)
    assert r["walks"] == 4 and r["steps"] == 10 and r["distinct_nearest_mean"] == 2.0
    assert r["jump_ratio_median"] < 1.5 and r["replay_jump_ratio_median"] == 9.0
