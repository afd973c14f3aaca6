"""Does the generator copy its training images? Nearest training neighbours of each sample.

For every generated sample: the distance to its nearest training image, in pixel space (RMS pixel
difference on a 0..1 scale) and in the classifier's feature space. The yardstick is the same
distance for the test split, real images the generator never saw: a generator that memorizes
puts samples much closer to training images than unseen real images are. A sample is a
near-copy when it is closer to a training image than 99% of test images are (the test split's
1st percentile), so real unseen images score 1% by construction.
"""

from __future__ import annotations

import torch

BLOCK = 1024
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5)
NEAR_COPY_QUANTILE = 0.01


def pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C*H*W) on a 0..1 scale."""
    return images.reshape(len(images), -1).float().div_(255.0)


def nearest(queries: torch.Tensor, refs: torch.Tensor, candidates: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance (N,), index (N,)) of each query's nearest reference row, Euclidean.

    The search computes |q|^2 + |r|^2 - 2 q.r in blocks (a matrix product, fast on a CPU); where
    the CPU has bf16 units the product runs in bf16 and the `candidates` nearest rows it finds are
    re-ranked exactly. The winner's distance is recomputed in float64, so an exact copy reads 0.
    """
    from gankit.device import bf16_supported

    low = bf16_supported(queries.device) and candidates > 0
    dtype = torch.bfloat16 if low else torch.float32
    q, r = queries.float(), refs.float()
    r_low = r.to(dtype)
    r_sq = (r * r).sum(dim=1)
    idx = []
    for i in range(0, len(q), BLOCK):
        qb = q[i:i + BLOCK]
        d2 = (qb * qb).sum(dim=1, keepdim=True) + r_sq[None, :] - 2 * (qb.to(dtype) @ r_low.T).float()
        if not low:
            idx.append(d2.argmin(dim=1))
            continue
        cand = d2.topk(min(candidates, len(r)), dim=1, largest=False).indices  # (B, k)
        exact = (qb[:, None, :].double() - r[cand].double()).square().sum(dim=2)
        idx.append(cand.gather(1, exact.argmin(dim=1, keepdim=True)).squeeze(1))
    index = torch.cat(idx) if idx else torch.zeros(0, dtype=torch.long)
    dist = (queries.double() - refs[index].double()).norm(dim=1)
    return dist, index


def _summary(d: torch.Tensor) -> dict:
    qs = torch.quantile(d.double(), torch.tensor(QUANTILES, dtype=torch.float64))
    return {f"q{int(q * 100):02d}": round(float(v), 6) for q, v in zip(QUANTILES, qs)}


def compare(sample_d: torch.Tensor, test_d: torch.Tensor) -> dict:
    """Nearest-training distances of samples against those of the test split."""
    threshold = float(torch.quantile(test_d.double(), NEAR_COPY_QUANTILE))
    return {
        "near_copy_share": round(float((sample_d < threshold).double().mean()), 6),
        "near_copy_threshold": round(threshold, 6),
        "median_ratio": round(float(sample_d.median() / test_d.median().clamp(min=1e-12)), 6),
        "samples": _summary(sample_d),
        "test": _summary(test_d),
    }


def memorization(samples: torch.Tensor, train: torch.Tensor, test: torch.Tensor,
                 sample_feats: torch.Tensor, train_feats: torch.Tensor, test_feats: torch.Tensor) -> dict:
    """Pixel- and feature-space nearest-neighbour statistics; uint8 images, float features.

    Returns {"pixel": compare(...), "feature": compare(...), "pairs": [(sample i, train j, d)]}
    with the 16 samples closest to a training image in pixel space, closest first.
    """
    tr = pixels(train)
    s_d, s_i = nearest(pixels(samples), tr)
    t_d, _ = nearest(pixels(test), tr)
    sf_d, _ = nearest(sample_feats, train_feats)
    tf_d, _ = nearest(test_feats, train_feats)
    scale = pixels(samples[:1]).shape[1] ** 0.5  # L2 -> RMS per pixel
    s_d, t_d = s_d / scale, t_d / scale
    order = torch.argsort(s_d)[:16]
    return {
        "pixel": compare(s_d, t_d),
        "feature": compare(sf_d, tf_d),
        "pairs": [(int(i), int(s_i[i]), round(float(s_d[i]), 6)) for i in order],
    }


def pairs_grid(samples: torch.Tensor, train: torch.Tensor, pairs: list, columns: int = 8) -> torch.Tensor:
    """uint8 (2*rows*columns, C, H, W): a row of samples, then the row of their nearest training
    images, repeated; for `viz.save_grid(..., nrow=columns)`."""
    rows = []
    for start in range(0, len(pairs), columns):
        chunk = pairs[start:start + columns]
        top = [samples[i] for i, _, _ in chunk]
        bottom = [train[j] for _, j, _ in chunk]
        pad = columns - len(chunk)
        blank = torch.zeros_like(samples[0])
        rows += top + [blank] * pad + bottom + [blank] * pad
    return torch.stack(rows) if rows else samples[:0]
