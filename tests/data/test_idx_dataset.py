"""The IDX datasets' loaders (mnist, fashion-mnist): search, checks, downloads, on tiny files
made here (no network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from gankit import paths
from gankit.data import DataSpec, load_dataset
from gankit.data.idx_dataset import IDX_DATASETS
from gankit.errors import UserError
from tests.data.idx_files import change_idx_dataset, idx_bytes, isolate, relax_idx_datasets, write
from tests.data.idx_files import write_split as write_arrays

TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


def tiny_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_split(folder, split: str = "train", n: int = 5, seed: int = 0, gz: bool = True):
    images, labels = tiny_split(n, seed)
    write_arrays(folder, split, images, labels, gz=gz)
    return images, labels


def no_network(*args, **kwargs):
    raise urllib.error.URLError("network is unreachable")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    return isolate(tmp_path, monkeypatch, no_network)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_data_dir(isolated, gz):
    images, labels = write_split(isolated / "m", gz=gz)
    test_images, test_labels = write_split(isolated / "m", "test", n=3, seed=1, gz=gz)
    ds = load_dataset("mnist", DataSpec(data_dir=isolated / "m"))
    assert ds.x.shape == (5, 1, 28, 28) and ds.x.dtype == torch.uint8
    assert torch.equal(ds.x[:, 0], torch.from_numpy(images))
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == labels.tolist()
    assert ds.num_classes == 10 and ds.class_names == [str(i) for i in range(10)]
    assert ds.kind == "image" and ds.source == str(isolated / "m")
    test = load_dataset("mnist", DataSpec(data_dir=isolated / "m", split="test"))
    assert torch.equal(test.x[:, 0], torch.from_numpy(test_images))
    assert test.labels.tolist() == test_labels.tolist()


def test_fashion_class_names_and_dotted_file_names(isolated):
    images, labels = tiny_split(5, 0)
    write(isolated / "f" / "train-images.idx3-ubyte", idx_bytes(images))
    write(isolated / "f" / "train-labels.idx1-ubyte.gz", idx_bytes(labels))
    ds = load_dataset("fashion-mnist", DataSpec(data_dir=isolated / "f"))
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert len(ds.class_names) == 10 and len(ds) == 5


def test_unknown_split(isolated):
    write_split(isolated / "m")
    with pytest.raises(UserError, match="no split 'valid'"):
        load_dataset("mnist", DataSpec(data_dir=isolated / "m", split="valid"))


def test_resize_on_load(isolated):
    write_split(isolated / "m")
    ds = load_dataset("mnist", DataSpec(data_dir=isolated / "m", image_size=32))
    assert ds.x.shape == (5, 1, 32, 32) and ds.x.dtype == torch.uint8
    same = load_dataset("mnist", DataSpec(data_dir=isolated / "m", image_size=28))
    assert same.x.shape == (5, 1, 28, 28)


@pytest.mark.parametrize(
    "images, labels, words",
    [
        (np.zeros((5, 28, 27), np.uint8), np.zeros(5, np.uint8), "not MNIST images"),
        (np.zeros((5, 28, 28), np.int32), np.zeros(5, np.uint8), "not MNIST images"),
        (np.zeros((5, 28, 28), np.uint8), np.zeros((5, 1), np.uint8), "not MNIST labels"),
        (np.zeros((5, 28, 28), np.uint8), np.array([0, 1, 2, 3, 10], np.uint8), "out of range 0..9"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.uint8), "has 4 items, the MNIST train split has 5"),
    ],
)
def test_bad_contents(isolated, images, labels, words):
    write(isolated / "m" / (TRAIN[0] + ".gz"), idx_bytes(images))
    write(isolated / "m" / (TRAIN[1] + ".gz"), idx_bytes(labels))
    with pytest.raises(UserError, match=words):
        load_dataset("mnist", DataSpec(data_dir=isolated / "m"))


def test_image_label_count_mismatch(isolated, monkeypatch):
    relax_idx_datasets(monkeypatch, None)  # only the pairing is wrong, not the counts
    images, _ = tiny_split(5, 0)
    write(isolated / "m" / (TRAIN[0] + ".gz"), idx_bytes(images))
    write(isolated / "m" / (TRAIN[1] + ".gz"), idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(UserError, match="5 images but 4 labels"):
        load_dataset("mnist", DataSpec(data_dir=isolated / "m"))


def test_checksum_mismatch_and_match(isolated, monkeypatch):
    images, labels = write_split(isolated / "m")
    table = {TRAIN[0]: hashlib.md5(idx_bytes(images)).hexdigest(), TRAIN[1]: "0" * 32}
    change_idx_dataset(monkeypatch, "mnist", md5=table)
    with pytest.raises(UserError, match="does not match the official MNIST file.*corrupt or not the official"):
        load_dataset("mnist", DataSpec(data_dir=isolated / "m"))
    table[TRAIN[1]] = hashlib.md5(idx_bytes(labels)).hexdigest()
    assert len(load_dataset("mnist", DataSpec(data_dir=isolated / "m"))) == 5


def test_other_datasets_files_are_skipped_and_named(isolated, monkeypatch):
    images, labels = write_split(isolated / "env")  # these play the "MNIST" files
    change_idx_dataset(monkeypatch, "mnist", md5={TRAIN[0]: hashlib.md5(idx_bytes(images)).hexdigest(), TRAIN[1]: "x"})
    change_idx_dataset(monkeypatch, "fashion-mnist", md5={TRAIN[0]: "f" * 32, TRAIN[1]: "f" * 32})
    monkeypatch.setenv("GANKIT_DATA", str(isolated / "env"))
    with pytest.raises(UserError, match="holds the MNIST files, not Fashion-MNIST"):
        load_dataset("fashion-mnist", DataSpec(download=False))


def test_search_order(isolated, monkeypatch):
    env = isolated / "env"
    write_split(env, seed=1)
    write_split(env / "mnist", seed=2)
    write_split(paths.data_cache_dir("mnist"), seed=3)
    monkeypatch.setenv("GANKIT_DATA", str(env))
    assert load_dataset("mnist").source == str(env / "mnist")
    assert load_dataset("fashion-mnist").source == str(env)  # no env/fashion-mnist: the root
    write_split(isolated / "explicit", seed=4)
    assert load_dataset("mnist", DataSpec(data_dir=isolated / "explicit")).source == str(isolated / "explicit")
    monkeypatch.delenv("GANKIT_DATA")
    assert load_dataset("mnist").source == str(paths.data_cache_dir("mnist"))
    change_idx_dataset(monkeypatch, "fashion-mnist", system_dirs=(isolated / "debian",))
    write_split(isolated / "debian", seed=5)
    assert load_dataset("fashion-mnist").source == str(isolated / "debian")


def test_data_dir_subfolder_named_after_dataset(isolated):
    write_split(isolated / "all" / "fashion-mnist")
    ds = load_dataset("fashion-mnist", DataSpec(data_dir=isolated / "all"))
    assert ds.source == str(isolated / "all" / "fashion-mnist")


def test_data_dir_without_files_is_an_error_not_a_fallback(isolated, monkeypatch):
    write_split(isolated / "env")
    monkeypatch.setenv("GANKIT_DATA", str(isolated / "env"))
    (isolated / "empty").mkdir()
    with pytest.raises(UserError, match="no MNIST train files in"):
        load_dataset("mnist", DataSpec(data_dir=isolated / "empty"))
    with pytest.raises(UserError, match="no such folder"):
        load_dataset("mnist", DataSpec(data_dir=isolated / "missing"))
    write(isolated / "half" / (TRAIN[0] + ".gz"), idx_bytes(tiny_split(5, 0)[0]))
    with pytest.raises(UserError, match="lacks train-labels-idx1-ubyte"):
        load_dataset("mnist", DataSpec(data_dir=isolated / "half"))


def test_not_found_without_download(isolated):
    with pytest.raises(UserError, match="not found in .*downloading is off"):
        load_dataset("mnist", DataSpec(download=False))


def test_offline_download_error(isolated):
    with pytest.raises(UserError) as e:
        load_dataset("mnist")
    msg = str(e.value)
    assert msg.startswith("could not download MNIST (") and "network is unreachable" in msg
    assert "--data-dir DIR" in msg and "\n" not in msg
    # both mirrors were tried, and no partial file is left in the cache
    assert "ossci-datasets" in msg and "yann.lecun.com" in msg
    assert list(paths.data_cache_dir("mnist").iterdir()) == []


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_verifies_and_fills_the_cache(isolated, monkeypatch):
    files = {}
    for split, n, seed in (("train", 5, 0), ("test", 3, 1)):
        images, labels = tiny_split(n, seed)
        stems = TRAIN if split == "train" else TEST
        files[stems[0]], files[stems[1]] = idx_bytes(images), idx_bytes(labels)
    change_idx_dataset(monkeypatch, "fashion-mnist", md5={k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    served = []

    def fake_urlopen(url, timeout):
        assert timeout <= 60
        served.append(url)
        stem = url.rsplit("/", 1)[1].removesuffix(".gz")
        return FakeResponse(gzip.compress(files[stem]))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    ds = load_dataset("fashion-mnist")
    cache = paths.data_cache_dir("fashion-mnist")
    assert ds.source == str(cache) and len(ds) == 5 and len(served) == 4
    assert sorted(p.name for p in cache.iterdir()) == sorted(s + ".gz" for s in files)
    assert served[0].startswith(IDX_DATASETS["fashion-mnist"].mirrors[0])
    assert len(load_dataset("fashion-mnist", DataSpec(split="test"))) == 3 and len(served) == 4


def test_download_with_wrong_checksum_keeps_nothing(isolated, monkeypatch):
    change_idx_dataset(monkeypatch, "mnist", md5={s: "0" * 32 for s in TRAIN + TEST})
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(gzip.compress(GOOD)))
    with pytest.raises(UserError, match="could not download MNIST .*checksum mismatch"):
        load_dataset("mnist")
    assert list(paths.data_cache_dir("mnist").iterdir()) == []
