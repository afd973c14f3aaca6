"""Training the domain classifier: recipes from the dataset registry, the loop, train_classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.data import DATASETS
from gankit.data.base import ClassifierRecipe
from gankit.errors import UserError
from gankit.metrics import classifier_train as train
from tests.data.idx_files import relax_idx_datasets, write_split


def test_digits_classifier_beats_chance_by_far(trained):
    model, info = trained
    assert info["dataset"] == "digits" and info["epochs"] == 6 and info["seed"] == 0
    assert info["batch_size"] == DATASETS.get("digits").classifier.batch_size
    assert info["n_train"] == 1437 and info["n_test"] == 360 and info["image_size"] == 8
    assert "gankit_version" in info and info["arch"] == model.config and not model.training
    assert info["test_accuracy"] >= 0.8


def test_training_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    m1, _ = train.train_classifier("digits", epochs=1, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    m2, _ = train.train_classifier("digits", epochs=1, seed=3)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k


def test_recipes_come_from_the_dataset_registry(monkeypatch):
    assert train.recipe_of("usps") == DATASETS.get("usps").classifier
    assert train.recipe_of("folder").per_content
    assert train.own_classifiers() == ("digits", "folder", "mnist", "fashion-mnist", "usps")
    assert "folder" not in train.own_classifiers(per_content=False)
    # a dataset registered with a recipe has a classifier; the epochs default to the recipe's
    monkeypatch.setattr(DATASETS.get("digits"), "classifier", ClassifierRecipe(epochs=1, batch_size=256))
    _, info = train.train_classifier("digits")
    assert (info["epochs"], info["batch_size"]) == (1, 256)


@pytest.mark.parametrize("name, words", [
    ("cifar10", "no domain classifier for dataset 'cifar10'; supported: digits, folder, mnist"),
    ("ring8", "no domain classifier for dataset 'ring8'"),
    ("stacked-mnist", "no classifier of its own: each channel is judged by the mnist classifier"),
])
def test_datasets_without_a_classifier_of_their_own(name, words):
    with pytest.raises(UserError, match=words) as e:
        train.train_classifier(name)
    assert "\n" not in str(e.value)


def test_usps_classifier_trains_at_16x16_from_idx_files(tmp_path, monkeypatch):
    relax_idx_datasets(monkeypatch, {"train": 40, "test": 20})
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    # two classes told apart by which half of the image is bright
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        labels = np.arange(n, dtype=np.uint8) % 2
        images = rng.integers(0, 60, (n, 16, 16), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, :, 8 * label : 8 * label + 8] += 180
        write_split(tmp_path / "usps", split, images, labels, test_prefix="test")
    model, info = train.train_classifier("usps", tmp_path / "usps", epochs=40)  # 40 steps: one batch an epoch
    assert info["image_size"] == 16 and model.image_size == 16 and info["n_train"] == 40
    assert info["batch_size"] == DATASETS.get("usps").classifier.batch_size
    assert info["test_accuracy"] >= 0.9


def test_random_shift_translates_each_image_within_range():
    x = torch.full((50, 1, 9, 9), -1.0)
    x[:, 0, 4, 4] = 1.0  # one bright pixel in the middle
    out = train.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    where = (out[:, 0] == 1.0).flatten(1).float().argmax(1)
    rows, cols = where // 9, where % 9
    assert (out == 1.0).sum().item() == 50  # moved, not lost or smeared
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # offsets differ between images
