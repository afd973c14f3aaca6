"""A digits classifier trained once (a short run) and shared by the classifier tests."""

from __future__ import annotations

import pytest

from gankit.data import DataSpec, load_dataset
from gankit.metrics.classifier_train import train_classifier


@pytest.fixture(scope="session")
def trained():
    """(model, info) of a digits classifier after 6 epochs, seed 0. Read it, do not train it."""
    return train_classifier("digits", epochs=6, seed=0)


@pytest.fixture(scope="session")
def digits_test():
    return load_dataset("digits", DataSpec(split="test"))
