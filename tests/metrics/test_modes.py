import math

import pytest
import torch

from gankit.data.toy2d import mode_centres, mode_std
from gankit.metrics import modes


def test_class_stats_on_planted_predictions():
    pred = torch.tensor([0] * 50 + [1] * 30 + [2] * 19 + [3] * 1)
    s = modes.class_stats(pred, 4)
    assert s["histogram"] == [0.5, 0.3, 0.19, 0.01]
    # class 3 has 1% where the uniform data gives 25%: below 10% of its share, not covered
    assert s["classes_covered"] == 3
    expected_kl = sum(p * math.log(p / 0.25) for p in (0.5, 0.3, 0.19, 0.01))
    assert s["kl_to_data"] == pytest.approx(expected_kl, abs=1e-6)
    assert s["max_min_ratio"] == pytest.approx(50.0)


def test_class_stats_uses_the_data_shares_and_handles_missing_classes():
    pred = torch.tensor([0, 0, 0, 1])
    s = modes.class_stats(pred, 3, data_shares=torch.tensor([0.75, 0.25, 0.0]))
    assert s["kl_to_data"] == pytest.approx(0.0, abs=1e-9)
    assert s["classes_covered"] == 2
    assert s["max_min_ratio"] == math.inf


def test_label_accuracy():
    assert modes.label_accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == 0.75


def test_mixture_modes_counts_planted_modes_and_quality():
    centres, std = mode_centres("ring8"), mode_std("ring8")
    g = torch.Generator().manual_seed(0)
    good = centres[torch.arange(600) % 6] + std * torch.randn(600, 2, generator=g)  # 6 of 8 modes
    bad = torch.zeros(200, 2)  # the circle's centre is 1 away from every mode: low quality
    s = modes.mixture_modes(torch.cat([good, bad]), centres, std)
    assert s["modes_captured"] == 6
    # a 2-D Gaussian puts 1 - exp(-9/2) = 98.9% of its points within 3 std of its centre
    assert s["high_quality"] == pytest.approx(0.75 * 0.989, abs=0.015)
    assert s["reverse_kl"] == pytest.approx(math.log(8 / 6), abs=0.005)


def test_a_mode_with_a_handful_of_samples_is_not_captured():
    centres, std = mode_centres("grid25"), mode_std("grid25")
    counts = torch.tensor([100] * 24 + [10])  # 10 < 20% of the expected 96.4
    pts = torch.cat([centres[i].expand(int(c), 2) for i, c in enumerate(counts)])
    assert modes.mixture_modes(pts, centres, std)["modes_captured"] == 24


def test_stacked_modes():
    preds = torch.tensor([[1, 2, 3], [1, 2, 3], [0, 0, 0], [9, 9, 9]])
    s = modes.stacked_modes(preds)
    assert s["modes_captured"] == 3
    h = torch.tensor([0.5, 0.25, 0.25])
    assert s["kl_to_uniform"] == pytest.approx(float((h * (h * 1000).log()).sum()), abs=1e-6)
    every = torch.stack([torch.arange(1000) // 100, torch.arange(1000) // 10 % 10, torch.arange(1000) % 10], 1)
    assert modes.stacked_modes(every) == {"modes_captured": 1000, "num_modes": 1000, "kl_to_uniform": 0.0}


def test_matched_accuracy_finds_the_best_one_to_one_match():
    truth = torch.arange(100) % 4
    perm = torch.tensor([2, 0, 3, 1])
    assert modes.matched_accuracy(perm[truth], truth, 4, 4) == (1.0, 1.0)
    merged = torch.where(truth == 3, torch.tensor(2), perm[truth])  # two classes share a code
    hungarian, majority = modes.matched_accuracy(merged, truth, 4, 4)
    assert hungarian == 0.75 and majority == 0.75
    five = torch.where(torch.arange(100) < 10, torch.tensor(4), perm[truth])  # an extra code
    # code 4 holds classes 0,1,2,3,0,1,2,3,0,1: majority gives it 3 right, the one-to-one match none
    assert modes.matched_accuracy(five, truth, 5, 4) == (0.90, 0.93)


def test_mixture_modes_min_share_zero_counts_a_mode_with_one_high_quality_sample():
    from gankit.metrics.modes import mixture_modes

    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    points = torch.cat([torch.zeros(99, 2), torch.tensor([[10.0, 0.0]])])  # one sample in mode 1
    assert mixture_modes(points, centres, 0.1)["modes_captured"] == 1  # 1 < 20% of the 50 expected
    assert mixture_modes(points, centres, 0.1, min_share=0)["modes_captured"] == 2
