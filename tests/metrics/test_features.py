"""Feature extractors: which datasets get a domain classifier comes from the dataset registry."""

from __future__ import annotations

import pytest
import torch

from gankit.data import DATASETS
from gankit.errors import UserError
from gankit.metrics import classifier as clf
from gankit.metrics import classifier_cache as cache
from gankit.metrics.features import make_extractor


def test_classifier_extractor_of_a_dataset_with_a_recipe(trained, digits_test, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    model, info = trained
    cache.save_classifier(model, info, cache.cache_path("digits"))
    ex = make_extractor("classifier", "digits", "image", image_size=8, channels=1)
    assert ex.name == "classifier:digits" and ex.info["classifier_test_accuracy"] == info["test_accuracy"]
    emb = ex(digits_test.x[:10])
    assert emb.features.shape == (10, 128) and emb.channel_preds is None
    torch.testing.assert_close(emb.probs, clf.probabilities(model, digits_test.x[:10]))


def test_a_channels_of_recipe_classifies_each_channel(trained, digits_test, tmp_path, monkeypatch):
    # stacked-mnist is judged by the mnist classifier on each channel; a digits model plays it here
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    model, info = trained
    cache.save_classifier(model, dict(info, dataset="mnist"), cache.cache_path("mnist"))
    ex = make_extractor("classifier", "stacked-mnist", "image", image_size=8, channels=3)
    assert ex.name == "classifier:mnist per channel" and ex.info["feature_dim"] == 3 * 128
    x = digits_test.x[:12]
    stacked = torch.cat([x, x.roll(1, 0), x.roll(2, 0)], dim=1)
    emb = ex(stacked)
    assert emb.features.shape == (12, 384) and emb.probs is None
    assert torch.equal(emb.channel_preds[:, 1], clf.classify(model, x.roll(1, 0)))
    with pytest.raises(UserError, match="stacked-mnist images have 3 channels, these have 1"):
        ex(x)


def test_datasets_without_a_recipe_have_no_classifier(monkeypatch):
    monkeypatch.setattr(DATASETS.get("digits"), "classifier", None)
    with pytest.raises(UserError, match="no domain classifier for dataset 'digits'.*--extractor inception") as e:
        make_extractor("classifier", "digits", "image")
    assert "usps" in str(e.value) and "stacked-mnist" in str(e.value)
    with pytest.raises(UserError, match="no domain classifier for dataset 'cifar10'"):
        make_extractor("classifier", "cifar10", "image")
    assert make_extractor("classifier", "ring8", "points").name == "points"
