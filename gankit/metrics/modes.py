"""Mode collapse in numbers: how generated samples spread over the data's classes or modes.

- Images with a domain classifier: the histogram of predicted classes, the classes covered, and
  KL(sample classes || data classes).
- 2-D mixtures (ring8, grid25): a sample is high quality when it lies within 3 std of its nearest
  mode centre (PacGAN and VEEGAN); reverse KL is KL(generated modes || uniform) over the
  high-quality samples. PacGAN's released code counts a mode as captured when it holds one
  high-quality sample (`min_share=0`: bench/mixtures.py's `modes` column); `gankit eval` asks more
  by default, at least 20% of the high-quality samples an even spread would give the mode, so
  that a few stray samples do not make a captured mode.
- Stacked MNIST: each of the three channels classified by the MNIST classifier gives one of 1,000
  modes (100 * red + 10 * green + blue); a mode is captured by at least one sample, and KL to
  the uniform distribution over the 1,000 modes, as in VEEGAN and PacGAN.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

# a class counts as covered when it holds at least this share of what the data gives it
COVERED_FRACTION = 0.1
MODE_CAPTURED_FRACTION = 0.2
HIGH_QUALITY_STDS = 3.0


def histogram(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Shares (num_classes,) float64 of the predicted labels (N,); zeros for an empty set."""
    counts = torch.bincount(pred.long().cpu(), minlength=num_classes)[:num_classes].double()
    return counts / counts.sum().clamp(min=1)


def kl(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> float:
    """KL(p || q) in nats for two distributions over the same classes (terms with p = 0 vanish)."""
    p, q = p.double(), q.double()
    mask = p > 0
    return float((p[mask] * (p[mask].log() - (q[mask] + eps).log())).sum())


def class_stats(pred: torch.Tensor, num_classes: int, data_shares: Optional[torch.Tensor] = None) -> dict:
    """Histogram, classes covered and KL to the data's class shares (uniform when not given)."""
    h = histogram(pred, num_classes)
    ref = data_shares.double() if data_shares is not None else torch.full((num_classes,), 1.0 / num_classes)
    covered = int((h >= COVERED_FRACTION * ref).logical_and(h > 0).sum())
    return {
        "histogram": [round(float(v), 6) for v in h],
        "classes_covered": covered,
        "num_classes": num_classes,
        "kl_to_data": round(kl(h, ref), 6),
        "max_min_ratio": round(float(h.max() / h.min()), 4) if h.min() > 0 else math.inf,
    }


def label_accuracy(pred: torch.Tensor, requested: torch.Tensor) -> float:
    """Share of samples classified as the label they were generated for."""
    return float((pred.cpu() == requested.cpu()).double().mean()) if len(requested) else 0.0


def matched_accuracy(pred: torch.Tensor, truth: torch.Tensor, num_codes: int,
                     num_classes: int) -> tuple[float, float]:
    """Accuracy of unsupervised cluster ids `pred` (0..num_codes-1) against class labels `truth`:
    (codes matched one-to-one to classes by the Hungarian algorithm on the confusion matrix,
    each code mapped to its most frequent class). A code left without a class (more codes than
    classes) counts as wrong under the one-to-one match."""
    from scipy.optimize import linear_sum_assignment

    if len(pred) != len(truth) or len(pred) == 0:
        raise ValueError("pred and truth must be non-empty and of the same length")
    counts = torch.zeros(num_codes, num_classes, dtype=torch.int64)
    counts.index_put_((pred.long(), truth.long()), torch.ones(len(pred), dtype=torch.int64), accumulate=True)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    hungarian = float(counts[rows, cols].sum()) / len(pred)
    majority = float(counts.max(dim=1).values.sum()) / len(pred)
    return hungarian, majority


def mixture_modes(points: torch.Tensor, centres: torch.Tensor, std: float,
                  min_share: float = MODE_CAPTURED_FRACTION) -> dict:
    """Mode statistics of 2-D samples (N, 2) against mixture `centres` (M, 2) of equal weight.
    min_share: the share of its expected high-quality samples a mode needs to count as captured
    (0: one high-quality sample is enough, as VEEGAN counts)."""
    points, centres = points.double().cpu(), centres.double().cpu()
    d = torch.cdist(points, centres)
    nearest_d, nearest = d.min(dim=1)
    hq = nearest_d <= HIGH_QUALITY_STDS * std
    m = len(centres)
    counts = torch.bincount(nearest[hq], minlength=m).double()
    expected = hq.sum().double() / m
    captured = int((counts >= min_share * expected).logical_and(counts > 0).sum())
    shares = counts / counts.sum().clamp(min=1)
    return {
        "modes_captured": captured,
        "num_modes": m,
        "high_quality": round(float(hq.double().mean()), 6),
        "reverse_kl": round(kl(shares, torch.full((m,), 1.0 / m)), 6) if hq.any() else math.inf,
    }


def stacked_modes(channel_preds: torch.Tensor) -> dict:
    """Stacked MNIST modes from per-channel digit predictions (N, 3)."""
    mode = channel_preds[:, 0] * 100 + channel_preds[:, 1] * 10 + channel_preds[:, 2]
    h = histogram(mode, 1000)
    return {
        "modes_captured": int((h > 0).sum()),
        "num_modes": 1000,
        "kl_to_uniform": round(kl(h, torch.full((1000,), 1e-3)), 6),
    }
