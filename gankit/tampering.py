"""Tampered images project worse: the experiment behind bench/tampering.py.

A generator trained on a dataset can make its images, not arbitrary edits of them. Project a
real test image and a tampered copy into the generator (gankit/projection.py): the tampered copy
tends to land further from its projection. How well the projection distance separates the two
is the ROC AUC of the distance as a score for "tampered" (0.5: no better than chance, 1: perfect).

Three kinds of tampering, each drawn by seed on model-range images (N, C, H, W) in [-1, 1]:
- `stroke`: a bright line 2 pixels wide between two random points of the middle of the image;
- `erase`: a random square of a third of the side set to the background (-1);
- `splice`: the top half of the image above the bottom half of another test image.
"""

from __future__ import annotations

import torch

KINDS = ("stroke", "erase", "splice")


def stroke(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    out = x.clone()
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    lo, hi = 0.2, 0.8
    for i in range(n):
        p = lo + (hi - lo) * torch.rand(4, generator=g)
        y0, x0, y1, x1 = p[0] * h, p[1] * w, p[2] * h, p[3] * w
        dy, dx = y1 - y0, x1 - x0
        length2 = float(dy * dy + dx * dx) or 1.0
        t = (((ys - y0) * dy + (xs - x0) * dx) / length2).clamp(0, 1)
        dist = ((ys - (y0 + t * dy)) ** 2 + (xs - (x0 + t * dx)) ** 2).sqrt()
        out[i, :, dist <= 1.0] = 1.0
    return out


def erase(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    out = x.clone()
    n, _, h, w = x.shape
    s = max(2, h // 3)
    for i in range(n):
        top = int(torch.randint(h // 6, h - s - h // 6 + 1, (1,), generator=g))
        left = int(torch.randint(w // 6, w - s - w // 6 + 1, (1,), generator=g))
        out[i, :, top:top + s, left:left + s] = -1.0
    return out


def splice(x: torch.Tensor, g: torch.Generator, others: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    h = x.shape[2]
    pick = torch.randint(len(others), (len(x),), generator=g)
    out[:, :, h // 2:] = others[pick][:, :, h // 2:]
    return out


def tamper(kind: str, x: torch.Tensor, seed: int, others: torch.Tensor) -> torch.Tensor:
    """Tampered copies of model-range images x; `others`: images the splices take bottoms from."""
    g = torch.Generator().manual_seed(seed)
    if kind == "stroke":
        return stroke(x, g)
    if kind == "erase":
        return erase(x, g)
    if kind == "splice":
        return splice(x, g, others)
    raise ValueError(f"unknown tampering {kind!r}; use one of {', '.join(KINDS)}")


def auc(original: torch.Tensor, tampered: torch.Tensor) -> float:
    """ROC AUC of the distance as a score for 'tampered': the chance that a random tampered image
    is further from its projection than a random original (ties count half)."""
    a, b = original.double().flatten(), tampered.double().flatten()
    greater = (b[:, None] > a[None, :]).double().mean()
    ties = (b[:, None] == a[None, :]).double().mean()
    return float(greater + 0.5 * ties)
