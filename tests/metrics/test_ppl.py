"""Perceptual path length: zero for a constant generator, the exact value for a linear one, and the
path in float64 on the same curve as gankit.latent's interpolation."""

import torch

from gankit.latent import lerp, slerp
from gankit.metrics.ppl import _path, path_length


def gaussian(m, g):
    return torch.randn(m, 6, generator=g)


def test_a_constant_generator_has_zero_path_length():
    out = path_length(lambda z, lab: torch.zeros(len(z), 3), gaussian, lambda x: x, n=300)
    assert out["ppl"] == 0.0 and out["n"] == 300


def test_a_linear_generator_scores_the_squared_latent_distance():
    # G(z) = z along a straight line: the step of eps moves the image by eps (z1 - z0), so each
    # pair scores |z1 - z0|^2, whose mean over Gaussian pairs is 2 * dim
    ident = path_length(lambda z, lab: z, gaussian, lambda x: x, n=4000, spherical=False)
    assert abs(ident["ppl"] - 12) < 1.0
    double = path_length(lambda z, lab: 2 * z, gaussian, lambda x: x, n=4000, spherical=False)
    assert abs(double["ppl"] / ident["ppl"] - 4) < 1e-3  # same latents (same seed), 4x the distance
    assert path_length(lambda z, lab: z, gaussian, lambda x: x, n=500, seed=1)["ppl"] > 0


def test_labels_reach_the_generator_the_same_at_both_ends():
    seen = []

    def gen(z, lab):
        seen.append(lab)
        return z
    path_length(gen, gaussian, lambda x: x, n=20, labels=lambda m: torch.arange(m) % 3)
    lab = seen[0]
    assert len(lab) == 40 and torch.equal(lab[:20], lab[20:])


def test_the_path_is_gankits_slerp_and_lerp():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    for spherical, fn in ((True, slerp), (False, lerp)):
        p = _path(a, b, t, spherical)
        for i in range(4):
            assert torch.allclose(p[i], fn(a[i:i + 1], b[i:i + 1], t[i:i + 1])[0, 0], atol=1e-5)
