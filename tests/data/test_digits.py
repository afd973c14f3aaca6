"""The sklearn 8x8 digits loader."""

from __future__ import annotations

import pytest
import torch

from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError


def test_digits_train_and_test_are_disjoint_parts():
    train = load_dataset("digits")
    test = load_dataset("digits", DataSpec(split="test"))
    assert train.x.shape == (1437, 1, 8, 8) and test.x.shape == (360, 1, 8, 8)
    assert train.x.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert int(train.x.max()) == 255 and int(train.x.min()) == 0
    assert set(train.labels.tolist()) == set(range(10)) == set(test.labels.tolist())
    assert train.num_classes == 10 and train.class_names == [str(i) for i in range(10)]
    assert train.source == "scikit-learn" and train.conditional


def test_digits_values_match_sklearn():
    from sklearn.datasets import load_digits

    sk = load_digits()
    ds = load_dataset("digits", DataSpec(split="test"))
    want = torch.from_numpy(sk.images[1437:] * 255 / 16).round().to(torch.uint8)
    assert torch.equal(ds.x[:, 0], want)
    assert ds.labels.tolist() == sk.target[1437:].tolist()


def test_digits_resize_and_bad_options():
    ds = load_dataset("digits", DataSpec(image_size=32))
    assert ds.x.shape == (1437, 1, 32, 32) and ds.x.dtype == torch.uint8
    with pytest.raises(UserError, match="no split"):
        load_dataset("digits", DataSpec(split="validation"))
    with pytest.raises(UserError, match="image size"):
        load_dataset("digits", DataSpec(image_size=0))
