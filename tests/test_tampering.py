"""The tampering kinds of bench/tampering.py and the AUC of a distance."""

import pytest
import torch

from gankit.tampering import KINDS, auc, tamper


def test_each_kind_changes_the_image_where_it_says():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 28, 28, generator=g) * 2 - 1
    others = -torch.ones(6, 1, 28, 28)
    for kind in KINDS:
        t = tamper(kind, x, seed=1, others=others)
        assert t.shape == x.shape and t.min() >= -1 and t.max() <= 1
        assert torch.equal(t, tamper(kind, x, seed=1, others=others))  # fixed by seed
        assert all(not torch.equal(t[i], x[i]) for i in range(6))
    s = tamper("splice", x, 1, others)
    assert torch.equal(s[:, :, :14], x[:, :, :14]) and (s[:, :, 14:] == -1).all()
    assert ((tamper("erase", x, 1, others) == -1).flatten(1).sum(1) >= 81).all()  # a 9x9 square
    assert ((tamper("stroke", x, 1, others) == 1).flatten(1).sum(1) >= 3).all()
    with pytest.raises(ValueError):
        tamper("blur", x, 1, others)


def test_auc():
    assert auc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])) == 0.5
    assert auc(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 3.0])) == 0.75
