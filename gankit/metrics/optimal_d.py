"""The optimal discriminator on 1-D data (Goodfellow et al. 2014, Proposition 1 and Fig. 1).

For a fixed G the best D is D*(x) = p_data(x) / (p_data(x) + p_g(x)). On the 1-D datasets
(gankit/data/toy1d.py) p_data is known in closed form; p_g is estimated from generated samples by
a Gaussian kernel density estimate with Scott's bandwidth (1.06 std n^-1/5). `curves` gives
p_data, p_g, D and D* on a grid of x, and the gap between D and D* weighted by the mixture
(p_data + p_g) / 2 that D is trained on.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch


def kde(samples: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Gaussian KDE of 1-D samples (N,) evaluated at x (M,), float64, Scott's bandwidth."""
    s = samples.double().flatten()
    h = max(1.06 * float(s.std()) * len(s) ** -0.2, 1e-3)
    out = torch.zeros(len(x), dtype=torch.float64)
    for i in range(0, len(s), 4096):
        d = (x.double()[:, None] - s[None, i:i + 4096]) / h
        out += torch.exp(-0.5 * d * d).sum(1)
    return out / (len(s) * h * math.sqrt(2 * math.pi))


def curves(p_data: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor,
           d_of: Optional[Callable[[torch.Tensor], torch.Tensor]], real: torch.Tensor, points: int = 200) -> dict:
    """The figure's curves on a grid covering the real and generated points: x, p_data, p_g, D*
    and (when d_of gives D's probability that x is real) D and the weighted mean |D - D*|."""
    both = torch.cat([real.flatten(), fake.flatten()]).double()
    lo, hi = float(torch.quantile(both, 0.001)), float(torch.quantile(both, 0.999))
    pad = 0.15 * (hi - lo) + 1e-3
    x = torch.linspace(lo - pad, hi + pad, points, dtype=torch.float64)
    pd, pg = p_data(x), kde(fake, x)
    d_star = pd / (pd + pg).clamp_min(1e-12)
    out = {"x": x.tolist(), "p_data": pd.tolist(), "p_g": pg.tolist(), "d_star": d_star.tolist()}
    if d_of is not None:
        d = d_of(x.float()[:, None]).double().flatten()
        w = (pd + pg) / 2
        out["d"] = d.tolist()
        out["gap"] = round(float((w * (d - d_star).abs()).sum() / w.sum().clamp_min(1e-12)), 6)
    return out
