"""The classifier of a labelled image folder: its recipe, its refusals, and its content key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError
from gankit.metrics import classifier as clf
from gankit.metrics import classifier_cache as cache
from gankit.metrics import classifier_folder as folder
from tests.helpers import labelled_folder


def test_folder_recipe_gives_small_folders_enough_steps():
    assert folder.folder_recipe(72) == (20, 8)  # 9 steps an epoch: capped at 20 epochs
    assert folder.folder_recipe(2048) == (19, 128)  # 16 steps an epoch: 19 epochs = 304 steps
    assert folder.folder_recipe(60_000) == (2, 128)  # 468 steps an epoch: at least two passes
    for n in (10, 200, 1000, 5000, 10**6):
        epochs, batch = folder.folder_recipe(n)
        assert epochs * (n // batch) >= 300 or epochs == folder.FOLDER_MAX_EPOCHS


def test_folder_classifier_trains_caches_and_retrains_when_files_change(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = labelled_folder(tmp_path / "data")
    model, info = cache.load_classifier("folder", data, image_size=16, channels=3)
    assert info["test_accuracy"] >= 0.9 and info["n_train"] == 72 and info["n_test"] == 30
    assert info["class_names"] == ["a", "b", "c"] and info["channels"] == 3 and model.in_channels == 3
    assert info["folder"] == str(data.resolve())
    path = cache.cache_path("folder", info["key"])
    assert path == tmp_path / "cache" / "classifiers" / f"folder-{info['key']}.safetensors" and path.is_file()
    # the test images are told apart by the model as loaded from the cache, without training again
    calls = []
    real_train = cache.train_classifier
    monkeypatch.setattr(cache, "train_classifier", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    loaded, again = cache.load_classifier("folder", str(data), image_size=16, channels=3)
    assert calls == [] and again == info
    test = load_dataset("folder", DataSpec(data_dir=data, split="test", image_size=16))
    assert torch.equal(clf.classify(loaded, test.x), clf.classify(model, test.x))
    # None: the size and channels the folder loads at (64, RGB) -> another classifier
    assert folder.folder_key(data, 16, 3) == info["key"] != folder.folder_key(data, 64, 3)
    # one rewritten training image: a new key, so the next load trains again
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(data / "train" / "a" / "0.png")
    with pytest.raises(UserError, match="missing; train it with .* folder --data-dir DIR --image-size 16"):
        cache.load_classifier("folder", data, train_if_missing=False, image_size=16, channels=3)
    _, retrained = cache.load_classifier("folder", data, image_size=16, channels=3)
    assert calls == [1] and retrained["key"] != info["key"]
    assert cache.cache_path("folder", retrained["key"]).is_file()


def test_folder_classifier_refusals(tmp_path):
    with pytest.raises(UserError, match="needs --data-dir"):
        cache.load_classifier("folder")
    labelled_folder(tmp_path / "one", splits=("train",))
    with pytest.raises(UserError, match="no test split"):
        cache.load_classifier("folder", tmp_path / "one" / "train", image_size=16, channels=3)
    flat = tmp_path / "flat"
    for split in ("train", "test"):
        flat.joinpath(split).mkdir(parents=True)
        Image.new("L", (8, 8)).save(flat / split / "x.png")
    with pytest.raises(UserError, match="no class subfolders.*--extractor inception") as e:
        cache.load_classifier("folder", flat, image_size=8, channels=1)
    assert "\n" not in str(e.value)
