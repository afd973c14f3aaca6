import numpy as np
import pytest

from gankit.metrics import prdc

REAL = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])  # each real point's nearest neighbour is 1 away
FAKE = np.array([[0.5], [10.0]])


def test_kth_nn_radius_skips_the_point_itself():
    assert prdc.kth_nn_radius(REAL, 1).tolist() == [1, 1, 1, 1, 1]
    assert prdc.kth_nn_radius(REAL, 2).tolist() == [2, 1, 1, 1, 2]


def test_precision_recall_by_hand():
    # 0.5 lies in the real balls of 0 and 1, 10 in none: precision 1/2. The fake radius (k=1) is
    # 9.5, so the ball around 0.5 holds every real point: recall 1.
    assert prdc.precision_recall(REAL, FAKE, k=1) == pytest.approx((0.5, 1.0))


def test_density_coverage_by_hand():
    # density: 0.5 sits in 2 real balls, 10 in none -> 2 / (k * 2 samples) = 1.0.
    # coverage: the real balls (radius 1) of 0 and 1 hold a sample, those of 2, 3, 4 do not -> 0.4.
    assert prdc.density_coverage(REAL, FAKE, k=1) == pytest.approx((1.0, 0.4))


def test_identical_sets_score_perfectly_and_far_sets_score_zero():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    p, r = prdc.precision_recall(real, real.copy())
    d, c = prdc.density_coverage(real, real.copy())
    assert (p, r, c) == (1.0, 1.0, 1.0)
    # each point sits in its own ball and in those of the ~k points it is a neighbour of
    assert d == pytest.approx(1.2, abs=0.05)
    far = real + 100
    assert prdc.precision_recall(real, far) == (0.0, 0.0)
    assert prdc.density_coverage(real, far) == (0.0, 0.0)


def test_a_collapsed_generator_keeps_precision_but_loses_recall_and_coverage():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1000, 2))
    collapsed = real[np.abs(real[:, 0]) < 0.2][:200] + rng.normal(scale=0.01, size=(1, 2))
    p, r = prdc.precision_recall(real, collapsed)
    _, c = prdc.density_coverage(real, collapsed)
    assert p > 0.9 and r < 0.5 and c < 0.5


def test_blocks_do_not_change_the_answer(monkeypatch):
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(120, 3)), rng.normal(0.3, 1, size=(90, 3))
    whole = prdc.precision_recall(real, fake) + prdc.density_coverage(real, fake)
    monkeypatch.setattr(prdc, "BLOCK", 7)
    assert prdc.precision_recall(real, fake) + prdc.density_coverage(real, fake) == pytest.approx(whole)


def test_too_few_points():
    with pytest.raises(ValueError):
        prdc.precision_recall(REAL[:3], FAKE, k=3)
