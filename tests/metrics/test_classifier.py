"""The domain classifier: training on `digits`, classifying, and the safetensors cache."""

from __future__ import annotations

import pytest
import torch

from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError
from gankit.metrics import classifier as clf


@pytest.fixture(scope="module")
def trained():
    """A digits classifier after a short training (about 2 s on one thread)."""
    return clf.train_classifier("digits", epochs=6, seed=0)


@pytest.fixture(scope="module")
def digits_test():
    return load_dataset("digits", DataSpec(split="test"))


def test_digits_classifier_beats_chance_by_far(trained, digits_test):
    model, info = trained
    assert info["dataset"] == "digits" and info["epochs"] == 6 and info["seed"] == 0
    assert info["n_train"] == 1437 and info["image_size"] == 8 and "gankit_version" in info
    assert info["test_accuracy"] >= 0.8
    pred = clf.classify(model, digits_test.x)
    assert pred.dtype == torch.int64 and pred.shape == (len(digits_test),)
    acc = (pred == digits_test.labels).float().mean().item()
    assert acc == pytest.approx(info["test_accuracy"], abs=1e-6)


def test_training_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    m1, _ = clf.train_classifier("digits", epochs=1, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    m2, _ = clf.train_classifier("digits", epochs=1, seed=3)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k


def test_probabilities_features_and_resizing(trained, digits_test):
    model, _ = trained
    x = digits_test.x[:20]
    p = clf.probabilities(model, x, batch_size=7)
    assert p.shape == (20, 10)
    torch.testing.assert_close(p.sum(1), torch.ones(20))
    # Larger and RGB inputs are resized / greyed to what the model was trained on.
    big = torch.nn.functional.interpolate(x.float(), size=28, mode="nearest").to(torch.uint8)
    assert clf.classify(model, big).shape == (20,)
    assert torch.equal(clf.classify(model, x.expand(-1, 3, -1, -1)), clf.classify(model, x))
    with torch.no_grad():
        assert model.features(torch.zeros(5, 1, 28, 28)).shape == (5, 128)
        assert model(torch.zeros(5, 1, 32, 32)).shape == (5, 10)
    assert clf.classify(model, x[:0]).shape == (0,)


def test_random_shift_translates_each_image_within_range():
    x = torch.full((50, 1, 9, 9), -1.0)
    x[:, 0, 4, 4] = 1.0  # one bright pixel in the middle
    out = clf.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    where = (out[:, 0] == 1.0).flatten(1).float().argmax(1)
    rows, cols = where // 9, where % 9
    assert (out == 1.0).sum().item() == 50  # moved, not lost or smeared
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # offsets differ between images


def test_cache_round_trip_is_bit_exact(trained, digits_test, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    model, info = trained
    path = clf.cache_path("digits")
    assert path == tmp_path / "classifiers" / "digits.safetensors"
    clf.save_classifier(model, info, path)
    loaded, loaded_info = clf.load_classifier("digits", train_if_missing=False)
    assert loaded_info == info
    original = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert v.dtype == original[k].dtype and torch.equal(v, original[k]), k
    assert not loaded.training
    assert torch.equal(clf.probabilities(loaded, digits_test.x), clf.probabilities(model, digits_test.x))
    assert [p.name for p in path.parent.iterdir()] == ["digits.safetensors"]


def test_missing_or_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    monkeypatch.setitem(clf.DEFAULTS, "digits", (1, 64))  # keep the retraining short
    with pytest.raises(UserError, match="missing"):
        clf.load_classifier("digits", train_if_missing=False)
    path = clf.cache_path("digits")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a safetensors file")
    with pytest.raises(UserError, match="unreadable"):
        clf.load_classifier("digits", train_if_missing=False)
    model, info = clf.load_classifier("digits")  # retrains and replaces the bad file
    assert info["epochs"] == 1
    _, again = clf.load_classifier("digits", train_if_missing=False)
    assert again == info


def test_unknown_dataset():
    with pytest.raises(UserError, match="supported"):
        clf.load_classifier("cifar10")
