"""The domain classifier: training on `digits`, classifying, and the safetensors cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError
from gankit.metrics import classifier as clf
from tests.helpers import labelled_folder


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


def test_old_cache_files_without_in_channels_still_load(trained, tmp_path):
    model, info = trained
    assert model.config["in_channels"] == 1 and clf.DomainClassifier().in_channels == 1
    old = dict(info, arch={k: v for k, v in info["arch"].items() if k != "in_channels"})  # as written before
    clf.save_classifier(model, old, tmp_path / "old.safetensors")
    loaded, _ = clf.read_classifier(tmp_path / "old.safetensors")
    assert loaded.in_channels == 1
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(clf.classify(loaded, x), clf.classify(model, x))


def test_prepare_keeps_colour_for_colour_models():
    grey = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    rgb = clf.prepare(grey, 8, channels=3)
    assert rgb.shape == (2, 3, 8, 8) and torch.equal(rgb[:, 0], rgb[:, 2])
    colour = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(clf.prepare(colour, 8, channels=3), colour.float() * (2 / 255) - 1)
    assert clf.prepare(colour, 8).shape == (2, 1, 8, 8)  # grey models average


def test_folder_recipe_gives_small_folders_enough_steps():
    assert clf.folder_recipe(72) == (20, 8)  # 9 steps an epoch: capped at 20 epochs
    assert clf.folder_recipe(2048) == (19, 128)  # 16 steps an epoch: 19 epochs = 304 steps
    assert clf.folder_recipe(60_000) == (2, 128)  # 468 steps an epoch: at least two passes
    for n in (10, 200, 1000, 5000, 10**6):
        epochs, batch = clf.folder_recipe(n)
        assert epochs * (n // batch) >= 300 or epochs == clf.FOLDER_MAX_EPOCHS


def test_folder_classifier_trains_caches_and_retrains_when_files_change(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = labelled_folder(tmp_path / "data")
    model, info = clf.load_classifier("folder", data, image_size=16, channels=3)
    assert info["test_accuracy"] >= 0.9 and info["n_train"] == 72 and info["n_test"] == 30
    assert info["class_names"] == ["a", "b", "c"] and info["channels"] == 3 and model.in_channels == 3
    assert info["folder"] == str(data.resolve())
    path = clf.cache_path("folder", info["key"])
    assert path == tmp_path / "cache" / "classifiers" / f"folder-{info['key']}.safetensors" and path.is_file()
    # the test images are told apart by the model as loaded from the cache, without training again
    calls = []
    real_train = clf.train_classifier
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    loaded, again = clf.load_classifier("folder", str(data), image_size=16, channels=3)
    assert calls == [] and again == info
    test = load_dataset("folder", DataSpec(data_dir=data, split="test", image_size=16))
    assert torch.equal(clf.classify(loaded, test.x), clf.classify(model, test.x))
    # None: the size and channels the folder loads at (64, RGB) -> another classifier
    assert clf.folder_key(data, 16, 3) == info["key"] != clf.folder_key(data, 64, 3)
    # one rewritten training image: a new key, so the next load trains again
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(data / "train" / "a" / "0.png")
    with pytest.raises(UserError, match="missing; train it with .* folder --data-dir DIR --image-size 16"):
        clf.load_classifier("folder", data, train_if_missing=False, image_size=16, channels=3)
    _, retrained = clf.load_classifier("folder", data, image_size=16, channels=3)
    assert calls == [1] and retrained["key"] != info["key"]
    assert clf.cache_path("folder", retrained["key"]).is_file()


def test_folder_classifier_refusals(tmp_path):
    with pytest.raises(UserError, match="needs --data-dir"):
        clf.load_classifier("folder")
    labelled_folder(tmp_path / "one", splits=("train",))
    with pytest.raises(UserError, match="no test split"):
        clf.load_classifier("folder", tmp_path / "one" / "train", image_size=16, channels=3)
    flat = tmp_path / "flat"
    for split in ("train", "test"):
        flat.joinpath(split).mkdir(parents=True)
        Image.new("L", (8, 8)).save(flat / split / "x.png")
    with pytest.raises(UserError, match="no class subfolders.*--extractor inception") as e:
        clf.load_classifier("folder", flat, image_size=8, channels=1)
    assert "\n" not in str(e.value)
