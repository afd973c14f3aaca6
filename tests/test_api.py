"""gankit.load(RUN): sampling by label and seed, interpolation, generation from latents, and the
same samples as `gankit sample`."""

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.errors import UserError

FAST = ["--dataset", "digits", "--set", "max_steps=3", "--set", "width=8", "--set", "z_dim=8",
        "--set", "batch_size=32", "--set", "precision=fp32", "--set", "grid_size=10"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    for model in ("cdcgan", "dcgan"):
        main(["train", model, "--out", str(root / model), *FAST])
    return root


def test_a_conditional_run_samples_by_label_and_seed(runs):
    m = gankit.load(runs / "cdcgan")
    assert m.conditional and m.num_classes == 10 and "cdcgan" in repr(m)
    x = m.sample(12, seed=3, label=7)
    assert x.dtype == np.uint8 and x.shape == (12, 8, 8)
    assert np.array_equal(x, m.sample(12, seed=3, label=7))
    # another seed, other latents (as floats: a G three steps old draws nearly flat grey in uint8)
    assert not torch.equal(m.sample(12, seed=3, label=7, as_tensor=True), m.sample(12, seed=4, label=7, as_tensor=True))
    t = m.sample(12, seed=3, label=7, as_tensor=True)
    assert t.shape == (12, 1, 8, 8) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(m.sample(12, seed=3, label=[7] * 12), x)
    z = torch.randn(3, m.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(m.generate(z, torch.eye(10)[[7, 1, 2]]), m.generate(z, [7, 1, 2]), atol=1e-6)  # soft rows
    with pytest.raises(UserError, match=r"soft labels must be \(3, 10\)"):
        m.generate(z, torch.eye(9)[:3])
    with pytest.raises(UserError):
        m.sample(3, label=10)


def test_sampling_matches_the_sample_command(runs, tmp_path):
    main(["sample", str(runs / "cdcgan"), "--n", "20", "--labels", "all", "--seed", "5",
          "--out", str(tmp_path / "s.npz")])
    with np.load(tmp_path / "s.npz") as f:
        images, labels = f["images"], f["labels"]
    m = gankit.load(runs / "cdcgan")
    assert np.array_equal(labels, np.arange(20) % 10)
    assert np.array_equal(images, m.sample(20, seed=5, label="all"))


def test_an_unconditional_run_interpolates_and_generates_from_latents(runs):
    m = gankit.load(runs / "dcgan")
    assert not m.conditional
    with pytest.raises(UserError, match="not class-conditional"):
        m.sample(4, label=1)
    walk = m.interpolate(rows=2, steps=5, seed=1)
    assert walk.shape == (2, 5, 8, 8) and walk.dtype == np.uint8
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(m.generate(z), m.generate(z)) and m.generate(z).shape == (4, 1, 8, 8)
    assert torch.equal(m.generate(z.numpy()), m.generate(z))  # numpy latents too
    for bad in (torch.randn(4, 9), torch.randn(0, 8), torch.randn(8)):  # wrong width, none, not (N, Z)
        with pytest.raises(UserError, match=r"latents must be \(N, 8\)"):
            m.generate(bad)
    with pytest.raises(UserError, match="not class-conditional"):
        m.generate(z, labels=[1, 2, 3, 4])
    with pytest.raises(UserError, match="no images given"):
        m.d_features(np.zeros((0, 8, 8), np.uint8))
    raw = gankit.load(runs / "dcgan", ema=False)
    assert not raw.meta["ema"] and m.meta["ema"]
    assert not torch.equal(raw.sample(4, as_tensor=True), m.sample(4, as_tensor=True))
