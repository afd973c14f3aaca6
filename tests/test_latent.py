"""Linear and spherical interpolation of latent codes."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.latent import interpolation_latents, lerp, slerp


def codes(n: int = 4, z: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, z, generator=g, dtype=torch.float64),
        torch.randn(n, z, generator=g, dtype=torch.float64),
    )


def test_slerp_endpoints_are_the_codes():
    a, b = codes()
    out = slerp(a, b, torch.tensor([0.0, 0.3, 1.0]))
    assert out.shape == (4, 3, 16)
    torch.testing.assert_close(out[:, 0], a)
    torch.testing.assert_close(out[:, 2], b)


def test_slerp_norm_interpolates_linearly_and_angle_uniformly():
    a, b = codes()
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    out = slerp(a, b, t)
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    torch.testing.assert_close(out.norm(dim=2), na * (1 - t) + nb * t)
    omega = torch.acos((a * b).sum(1) / (na * nb).squeeze(1))
    cos_to_a = (out * a.unsqueeze(1)).sum(2) / (out.norm(dim=2) * na)
    torch.testing.assert_close(torch.acos(cos_to_a.clamp(-1, 1)), omega[:, None] * t)


def test_slerp_midpoint_of_orthogonal_unit_vectors():
    a, b = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    mid = slerp(a, b, torch.tensor([0.5]))[0, 0]
    assert mid.norm().item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(mid, torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))
    assert lerp(a, b, torch.tensor([0.5]))[0, 0].norm().item() == pytest.approx(1 / math.sqrt(2))


def test_slerp_parallel_and_zero_codes_fall_back_to_lerp():
    a = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    b = torch.tensor([[2.0, 4.0], [1.0, 1.0], [3.0, -1.0]])  # parallel, from zero, identical
    t = torch.linspace(0, 1, 5)
    out = slerp(a, b, t)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, lerp(a, b, t))


def test_lerp_is_linear():
    a, b = codes()
    t = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    out = lerp(a, b, t)
    torch.testing.assert_close(out, a[:, None] + t[None, :, None] * (b - a)[:, None])
    torch.testing.assert_close(out[:, 1] - out[:, 0], (out[:, 3] - out[:, 1]) / 3)  # even steps
    torch.testing.assert_close(out[:, 2], (a + b) / 2)


def test_shape_checks():
    a, b = codes()
    with pytest.raises(ValueError):
        slerp(a, b[:, :3], torch.tensor([0.5]))
    with pytest.raises(ValueError):
        lerp(a, b, torch.zeros(2, 2))


@pytest.mark.parametrize("spherical", [True, False])
def test_interpolation_latents(spherical):
    z = interpolation_latents(3, 5, 8, torch.Generator().manual_seed(1), slerp=spherical)
    again = interpolation_latents(3, 5, 8, torch.Generator().manual_seed(1), slerp=spherical)
    assert z.shape == (15, 8) and torch.equal(z, again)
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    torch.testing.assert_close(z[0::5], a)  # each row starts at its start code ...
    torch.testing.assert_close(z[4::5], b)  # ... and ends at its end code


def test_framed_walks_put_each_pair_at_the_ends_of_its_row():
    from gankit.latent import framed_walks

    a, b = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2) * 9
    walks = torch.arange(2 * 3, dtype=torch.float32).reshape(6, 1, 1, 1).expand(6, 1, 2, 2)
    grid = framed_walks(a, walks, b)
    assert grid.shape == (10, 1, 2, 2)
    assert grid[:, 0, 0, 0].tolist() == [0, 0, 1, 2, 9, 0, 3, 4, 5, 9]
