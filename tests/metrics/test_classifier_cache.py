"""The classifier cache: safetensors round trip, atomic writes, missing or corrupt files, the CLI."""

from __future__ import annotations

import json
import os

import pytest
import torch

from gankit.data import DATASETS
from gankit.data.base import ClassifierRecipe
from gankit.errors import UserError
from gankit.metrics import classifier as clf
from gankit.metrics import classifier_cache as cache


def test_cache_round_trip_is_bit_exact(trained, digits_test, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    model, info = trained
    path = cache.cache_path("digits")
    assert path == tmp_path / "classifiers" / "digits.safetensors"
    cache.save_classifier(model, info, path)
    loaded, loaded_info = cache.load_classifier("digits", train_if_missing=False)
    assert loaded_info == info
    original = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert v.dtype == original[k].dtype and torch.equal(v, original[k]), k
    assert not loaded.training
    assert torch.equal(clf.probabilities(loaded, digits_test.x), clf.probabilities(model, digits_test.x))
    assert [p.name for p in path.parent.iterdir()] == ["digits.safetensors"]  # no temporary file left


def test_cache_file_is_readable_as_the_umask_allows(trained, tmp_path):
    # safetensors' own save_file would make it 0600; the cache is written as any other file
    umask = os.umask(0o022)
    try:
        cache.save_classifier(*trained, tmp_path / "c.safetensors")
    finally:
        os.umask(umask)
    assert (tmp_path / "c.safetensors").stat().st_mode & 0o777 == 0o644


def test_unwritable_cache_is_a_one_line_user_error(trained, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UserError) as e:
        cache.save_classifier(*trained, tmp_path / "file" / "c.safetensors")
    assert "classifier cache" in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "dir" / "c.safetensors").mkdir(parents=True)  # the rename onto a folder fails
    with pytest.raises(UserError, match="could not write .*c.safetensors") as e:
        cache.save_classifier(*trained, tmp_path / "dir" / "c.safetensors")
    assert "\n" not in str(e.value) and [p.name for p in (tmp_path / "dir").iterdir()] == ["c.safetensors"]


def test_missing_or_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    # keep the retraining short: the recipe is the dataset's registry entry
    monkeypatch.setattr(DATASETS.get("digits"), "classifier", ClassifierRecipe(epochs=1, batch_size=64))
    with pytest.raises(UserError, match="missing"):
        cache.load_classifier("digits", train_if_missing=False)
    path = cache.cache_path("digits")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a safetensors file")
    with pytest.raises(UserError, match="unreadable"):
        cache.load_classifier("digits", train_if_missing=False)
    model, info = cache.load_classifier("digits")  # retrains and replaces the bad file
    assert info["epochs"] == 1
    _, again = cache.load_classifier("digits", train_if_missing=False)
    assert again == info


def test_a_cache_file_of_another_dataset_is_not_used(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    cache.save_classifier(*trained, cache.cache_path("usps"))  # a digits classifier under usps' name
    with pytest.raises(UserError, match="holds a classifier of 'digits'; train it with `python -m gankit"):
        cache.load_classifier("usps", train_if_missing=False)


def test_unknown_dataset():
    with pytest.raises(UserError, match="supported"):
        cache.load_classifier("cifar10")


def test_old_cache_files_without_in_channels_still_load(trained, tmp_path):
    model, info = trained
    assert model.config["in_channels"] == 1 and clf.DomainClassifier().in_channels == 1
    old = dict(info, arch={k: v for k, v in info["arch"].items() if k != "in_channels"})  # as written before
    cache.save_classifier(model, old, tmp_path / "old.safetensors")
    loaded, _ = cache.read_classifier(tmp_path / "old.safetensors")
    assert loaded.in_channels == 1
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(clf.classify(loaded, x), clf.classify(model, x))


def test_command_line_trains_and_caches(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    assert cache.main(["digits", "--epochs", "1", "--seed", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    info = json.loads(out[0])
    assert info["epochs"] == 1 and info["seed"] == 2 and out[1] == f"saved {cache.cache_path('digits')}"
    assert cache.load_classifier("digits", train_if_missing=False)[1] == info
    assert cache.main(["folder"]) == 2 and "needs --data-dir" in capsys.readouterr().out
