import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.metrics import distances


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # ||mu1 - mu2||^2 + sum(s1 + s2 - 2 sqrt(s1 s2)) = 5 + (1 + 1 + 4) = 11
    got = distances.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(11.0, abs=1e-9)


def test_frechet_distance_of_sampled_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(200_000, 2))
    b = rng.normal(3.0, 2.0, size=(200_000, 2))
    # mean term 2 * 3^2 = 18; covariance term 2 * (1 + 4 - 2 * 2) = 2
    assert distances.fid(a, b) == pytest.approx(20.0, rel=0.01)


def test_fid_of_a_set_with_itself_is_zero_and_symmetric():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(500, 16)), rng.normal(size=(400, 16)) * 1.5
    assert abs(distances.fid(a, a)) < 1e-8
    assert distances.fid(a, b) == pytest.approx(distances.fid(b, a), rel=1e-9)


def _reference_fid(a, b):
    # the formula of pytorch-fid / the original TTUR code: scipy's general matrix square root
    mu1, mu2 = a.mean(0), b.mean(0)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    covmean = covmean.real
    diff = mu1 - mu2
    return diff @ diff + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean)


def test_fid_equals_the_reference_implementation_on_the_same_features():
    rng = np.random.default_rng(2)
    mix = rng.normal(size=(32, 32))
    a = rng.normal(size=(3000, 32)) @ mix
    b = (rng.normal(size=(2000, 32)) + 0.3) @ (mix + 0.2 * rng.normal(size=(32, 32)))
    assert distances.fid(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-6)
    assert distances.fid(torch.from_numpy(a).float(), b) == pytest.approx(_reference_fid(a, b), rel=1e-4)


def test_kid_is_the_unbiased_mmd_of_a_hand_checked_example():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 2.0]])
    k = lambda u, v: (u @ v / 2 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(3) for j in range(3) if i != j) / 6
    yy = sum(k(y[i], y[j]) for i in range(3) for j in range(3) if i != j) / 6
    xy = sum(k(u, v) for u in x for v in y) / 9
    mean, std = distances.kid(x, y, subsets=5, subset_size=100)
    assert mean == pytest.approx(xx + yy - 2 * xy)
    assert std == pytest.approx(0.0, abs=1e-12)  # every subset is the whole set


def test_kid_separates_same_from_different_distributions():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8)), rng.normal(0.5, 1, size=(1000, 8))
    same, same_std = distances.kid(a, b, subsets=20, subset_size=500)
    diff, _ = distances.kid(a, c, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3
    assert diff > 20 * max(abs(same), 1e-4)


def test_inception_score_extremes():
    k = 10
    confident_even = np.eye(k)[np.arange(1000) % k]
    assert distances.inception_score(confident_even)[0] == pytest.approx(k, rel=1e-6)
    one_class = np.eye(k)[np.zeros(1000, dtype=int)]
    assert distances.inception_score(one_class)[0] == pytest.approx(1.0, rel=1e-6)
    unsure = np.full((1000, k), 1.0 / k)
    assert distances.inception_score(unsure)[0] == pytest.approx(1.0, rel=1e-6)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        distances.fid(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError):
        distances.kid(np.zeros((5, 2)), np.zeros((5, 3)))
