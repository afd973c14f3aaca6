"""Distances between two sets of features: FID, KID, and the Inception Score of class probabilities.

All functions take feature matrices (N, D) as torch tensors or NumPy arrays and compute in float64
on the CPU: the covariance square root of FID loses digits in float32.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]


def as_f64(x: Array) -> np.ndarray:
    """(N, D) features as a float64 NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    return x


def mean_cov(x: Array) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), N >= 2."""
    x = as_f64(x)
    if len(x) < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))  # (1, 1) for 1-D points


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)) between two Gaussians.

    tr((C1 C2)^(1/2)) is computed as tr((S C2 S)^(1/2)) with S = C1^(1/2): the two matrices are
    similar, and the second is symmetric PSD, so an eigendecomposition gives it exactly without the
    complex round-off a general matrix square root (scipy's sqrtm) has to clean up.
    """
    s = _psd_sqrt(cov1)
    w = np.linalg.eigvalsh(s @ cov2 @ s)
    tr_covmean = np.sqrt(np.clip(w, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * tr_covmean)


def fid(a: Array, b: Array) -> float:
    """Frechet distance between the Gaussians fitted to two feature sets (N, D) and (M, D)."""
    return frechet_distance(*mean_cov(a), *mean_cov(b))


def _mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    m, n = len(k_xx), len(k_yy)
    sum_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    sum_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2 * k_xy.mean())


def kid(a: Array, b: Array, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): (mean, std) over random subsets.

    The unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over
    `subsets` draws of `subset_size` vectors from each set (without replacement within a draw;
    the size shrinks to the smaller set when needed). Unbiased: it can be slightly negative for
    two samples of the same distribution.
    """
    a, b = as_f64(a), as_f64(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}")
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least 2 vectors in each set")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        values[i] = _mmd2_unbiased((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    return float(values.mean()), float(values.std())


def inception_score(probs: Array, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) of class probabilities (N, K): (mean, std) over `splits` parts.

    Computed with whatever classifier produced `probs` (gankit's domain classifier for digits and
    clothes): the maximum is the number of classes, reached by confident and evenly spread samples.
    """
    p = as_f64(probs)
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
