"""The domain classifier network and its inference helpers, on a trained digits classifier."""

from __future__ import annotations

import pytest
import torch

from gankit.metrics import classifier as clf


def test_classify_matches_the_recorded_test_accuracy(trained, digits_test):
    model, info = trained
    pred = clf.classify(model, digits_test.x)
    assert pred.dtype == torch.int64 and pred.shape == (len(digits_test),)
    acc = (pred == digits_test.labels).float().mean().item()
    assert acc == pytest.approx(info["test_accuracy"], abs=1e-6)
    assert clf.accuracy(model, digits_test.x, digits_test.labels) == pytest.approx(acc)


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


def test_embed_gives_features_and_the_same_probabilities(trained, digits_test):
    model, _ = trained
    x = digits_test.x[:30]
    feats, probs = clf.embed(model, x, batch_size=8)
    assert feats.shape == (30, 128) and feats.dtype == torch.float32
    torch.testing.assert_close(probs, clf.probabilities(model, x))
    empty_f, empty_p = clf.embed(model, x[:0])
    assert empty_f.shape == (0, 128) and empty_p.shape == (0, 10)


def test_prepare_keeps_colour_for_colour_models():
    grey = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    rgb = clf.prepare(grey, 8, channels=3)
    assert rgb.shape == (2, 3, 8, 8) and torch.equal(rgb[:, 0], rgb[:, 2])
    colour = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(clf.prepare(colour, 8, channels=3), colour.float() * (2 / 255) - 1)
    assert clf.prepare(colour, 8).shape == (2, 1, 8, 8)  # grey models average


def test_names_that_moved_still_import_from_here():
    # bench/label_accuracy.py: from gankit.metrics.classifier import SUPPORTED, classify, load_classifier
    from gankit.metrics.classifier import SUPPORTED, load_classifier
    from gankit.metrics.classifier_cache import load_classifier as moved

    assert load_classifier is moved
    assert set(SUPPORTED) == {"mnist", "fashion-mnist", "usps", "digits"}
    with pytest.raises(AttributeError):
        clf.no_such_name
