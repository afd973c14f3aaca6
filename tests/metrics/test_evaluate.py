"""evaluate() on scikit-learn's digits and the 2-D mixtures: known sets must rank as they should."""

import pytest
import torch
from PIL import Image

from gankit.data import DataSpec, load_dataset
from gankit.data.toy2d import sample_mixture
from gankit.errors import UserError
from gankit.metrics.evaluate import evaluate, format_table, quick, reference
from tests.helpers import labelled_folder


@pytest.fixture(scope="module")
def digits_ref(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))  # the classifier trains here (~3 s)
    yield reference("digits")
    mp.undo()


def _noise(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)


def test_real_images_beat_shifted_ones_which_beat_noise_on_every_metric(digits_ref):
    train = load_dataset("digits").x
    real = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(3))[:360]]
    shifted = torch.roll(real, 1, dims=3)  # one pixel to the right: worse, but still digits
    results = [evaluate(digits_ref, x, seed=1, memorization=False)["scores"]
               for x in (real, shifted, _noise(len(real)))]
    lower, higher = ("fid", "kid", "kl_to_data"), ("inception_score", "precision", "recall", "density", "coverage")
    for key in lower:
        assert results[1][key] < results[2][key], key
    for key in higher:
        assert results[1][key] > results[2][key], key
    for key in ("fid", "kid"):  # distances see the shift; the class-based scores barely move
        assert results[0][key] < results[1][key], key
    for key in ("precision", "recall", "density", "coverage"):
        assert results[0][key] > results[1][key], key
    assert results[0]["classes_covered"] == 10 and results[2]["classes_covered"] < 10


def test_floor_is_real_training_data_and_protocol_is_recorded(digits_ref):
    x = _noise(200)
    r = evaluate(digits_ref, x, labels=torch.arange(200) % 10, memorization=True)
    p = r["protocol"]
    assert p["n_samples"] == 200 and p["dataset"] == "digits" and "test split, 360" in p["reference"]
    assert p["classifier_test_accuracy"] > 0.9 and p["extractor"] == "gankit domain classifier"
    assert r["floor"]["fid"] < r["scores"]["fid"] / 10
    assert r["floor"]["label_accuracy"] == p["classifier_test_accuracy"]
    assert 0 <= r["scores"]["label_accuracy"] <= 0.3  # noise is not the digit it was asked for
    assert r["memorization"]["pixel"]["near_copy_share"] == 0.0
    table = format_table(r)
    assert "FID" in table and "floor" in table and "label accuracy" in table


def test_copies_of_training_images_are_flagged(digits_ref):
    train = load_dataset("digits").x
    r = evaluate(digits_ref, train[:300], memorization=True)
    assert r["memorization"]["pixel"]["near_copy_share"] == 1.0
    assert r["memorization"]["pairs"][0][2] == 0.0


def test_quick_matches_the_full_fid(digits_ref):
    x = torch.roll(load_dataset("digits").x[:300], 1, dims=2)
    q = quick(digits_ref, x, labels=None)
    assert q["fid"] == pytest.approx(evaluate(digits_ref, x, memorization=False)["scores"]["fid"], abs=1e-3)
    assert set(q) == {"fid", "classes_covered", "kl_to_data"}


def test_wrong_shapes_and_tiny_sets_are_user_errors(digits_ref):
    with pytest.raises(UserError, match="shape"):
        evaluate(digits_ref, torch.zeros(50, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(UserError, match="at least 10"):
        evaluate(digits_ref, _noise(5))


def test_ring8_modes_and_quality():
    ref = reference("ring8")
    good, _ = sample_mixture("ring8", 2000, seed=5)
    r = evaluate(ref, good)["scores"]
    assert r["modes_captured"] == 8 and r["high_quality"] > 0.97 and r["reverse_kl"] < 0.01
    collapsed = good[(good[:, 0] > 0.9)]  # the one mode at angle 0
    r2 = evaluate(ref, collapsed)["scores"]
    assert r2["modes_captured"] == 1 and r2["reverse_kl"] == pytest.approx(2.0794, abs=1e-3)  # log 8
    assert r2["fid"] > r["fid"] and r2["recall"] < r["recall"]


def test_folders_without_test_split_or_labels_and_unknown_extractors_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    labelled_folder(tmp_path / "one", n_train=2, splits=("train",))
    with pytest.raises(UserError, match="no test split: put .*test"):  # the classes alone, no test/
        reference("folder", tmp_path / "one" / "train", 16)
    for split in ("train", "test"):  # train/ and test/ without class subfolders
        (tmp_path / "flat" / split).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "flat" / split / "x.png")
    with pytest.raises(UserError, match="no class subfolders.*--extractor inception"):
        reference("folder", tmp_path / "flat", 8)
    with pytest.raises(UserError, match="extractor"):
        reference("digits", extractor="vgg")


def test_folder_reference_ranks_real_images_above_noise(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = labelled_folder(tmp_path / "data")
    ref = reference("folder", str(data), 16, None)  # channels as the folder loads: RGB
    assert ref.test_x.shape == (30, 3, 16, 16) and ref.num_classes == 3
    p_info = ref.extractor.info
    assert p_info["classifier_dataset"] == "folder" and p_info["classifier_test_accuracy"] >= 0.9
    assert "3 channels kept" in p_info["resize"] and p_info["classifier_folder"] == str(data.resolve())
    fresh = labelled_folder(tmp_path / "fresh", n_train=20, seed=5, splits=("train",))  # new draws, same classes
    real = load_dataset("folder", DataSpec(data_dir=fresh / "train", image_size=16)).x
    noise = torch.randint(0, 256, real.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    r_real, r_noise = (evaluate(ref, x, labels=torch.arange(60) // 20, seed=1, memorization=False)
                       for x in (real, noise))
    assert r_real["scores"]["fid"] < r_noise["scores"]["fid"] / 5
    assert r_real["scores"]["classes_covered"] == 3 and r_real["scores"]["label_accuracy"] >= 0.9
    assert r_real["protocol"]["reference"] == "folder test split, 30 items"
    assert quick(ref, real)["fid"] == pytest.approx(r_real["scores"]["fid"], abs=1e-3)
