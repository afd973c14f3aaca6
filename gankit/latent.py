"""Walks through the latent space: linear and spherical interpolation between latent codes.

A Gaussian latent z in many dimensions lies almost surely near the sphere of radius sqrt(Z). The
straight line between two such codes cuts inside the sphere, through codes the generator rarely
saw in training (their norm dips by up to 1/sqrt(2) at the midpoint of orthogonal codes); slerp
walks along the great circle instead and keeps the norm where the codes are.
"""

from __future__ import annotations

import torch

# Below this angle (radians) the two directions are treated as parallel: sin(omega) is tiny there
# and slerp's weights lose precision, while lerp is the same curve to within rounding.
_PARALLEL_EPS = 1e-4


def _check(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"a and b must both be (N, Z), got {tuple(a.shape)} and {tuple(b.shape)}")
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() != 1:
        raise ValueError(f"t must be (S,), got shape {tuple(t.shape)}")
    return t


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation. a, b: (N, Z); t: (S,) in [0, 1]. Returns (N, S, Z)."""
    t = _check(a, b, t)
    tt = t.view(1, -1, 1)
    return a.unsqueeze(1) * (1 - tt) + b.unsqueeze(1) * tt


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation. a, b: (N, Z); t: (S,) in [0, 1]. Returns (N, S, Z).

    The direction moves along the great circle from a/|a| to b/|b| at constant angular speed and
    the length goes linearly from |a| to |b|, so the endpoints are exactly a and b. Pairs whose
    directions are (nearly) parallel, or where a code is zero, fall back to lerp.
    Anti-parallel pairs have no unique great circle; they take the one torch's rounding gives.
    """
    t = _check(a, b, t)
    tt = t.view(1, -1, 1)
    norm_a = a.norm(dim=1, keepdim=True)  # (N, 1)
    norm_b = b.norm(dim=1, keepdim=True)
    tiny = torch.finfo(a.dtype).tiny
    unit_a = a / norm_a.clamp_min(tiny)
    unit_b = b / norm_b.clamp_min(tiny)
    cos = (unit_a * unit_b).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)  # (N, 1) angle between the codes
    sin_omega = torch.sin(omega)
    parallel = (omega < _PARALLEL_EPS) | (norm_a == 0) | (norm_b == 0)  # (N, 1)
    safe_sin = torch.where(parallel, torch.ones_like(sin_omega), sin_omega)
    om = omega.unsqueeze(1)  # (N, 1, 1)
    w_a = torch.sin((1 - tt) * om) / safe_sin.unsqueeze(1)  # (N, S, 1)
    w_b = torch.sin(tt * om) / safe_sin.unsqueeze(1)
    direction = w_a * unit_a.unsqueeze(1) + w_b * unit_b.unsqueeze(1)  # unit length
    length = norm_a.unsqueeze(1) * (1 - tt) + norm_b.unsqueeze(1) * tt
    spherical = direction * length
    return torch.where(parallel.unsqueeze(1), lerp(a, b, t), spherical)


_slerp = slerp  # interpolation_latents has a `slerp` flag that shadows the function


def interpolation_latents(
    n_rows: int, steps: int, z_dim: int, generator: torch.Generator, slerp: bool = True
) -> torch.Tensor:
    """Latents for an interpolation grid: n_rows walks of `steps` codes between random endpoints.

    Endpoints are standard normal (N, Z) codes drawn from `generator` (on its device). Returns
    (n_rows * steps, Z), row-major: codes [r * steps, (r + 1) * steps) are walk r, from its start
    code to its end code inclusive, ready for `save_grid(..., nrow=steps)`.
    """
    device = generator.device
    a = torch.randn(n_rows, z_dim, generator=generator, device=device)
    b = torch.randn(n_rows, z_dim, generator=generator, device=device)
    t = torch.linspace(0.0, 1.0, steps, device=device)
    path = _slerp(a, b, t) if slerp else lerp(a, b, t)
    return path.reshape(n_rows * steps, z_dim)


def framed_walks(a: torch.Tensor, walks: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Walks between pairs of images framed by those images: a, b (N, C, H, W) and walks
    (N * S, C, H, W), row i going from a[i] to b[i] -> (N * (S + 2), C, H, W), row by row."""
    n = len(a)
    rows = walks.reshape(n, len(walks) // n, *walks.shape[1:])
    return torch.cat([a[:, None], rows, b[:, None]], 1).flatten(0, 1)
