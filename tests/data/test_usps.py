"""The usps dataset: 16x16 IDX files named test-* for the test split, no download; on tiny files
made here, never the real ones."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from gankit import paths
from gankit.data import DATASETS, DataSpec, load_dataset
from gankit.data.idx_dataset import IDX_DATASETS
from gankit.data.idx_download import download
from gankit.errors import UserError
from tests.data.idx_files import change_idx_dataset, idx_bytes, isolate, write, write_split


def tiny(n: int, seed: int, side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_usps(folder, split="train", n=5, seed=0, side=16):
    images, labels = tiny(n, seed, side)
    write_split(folder, split, images, labels, test_prefix="test")
    return images, labels


def network_used(*args, **kwargs):
    raise AssertionError("usps has no download; nothing may be fetched")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    return isolate(tmp_path, monkeypatch, network_used)


def test_usps_is_registered_with_its_published_description():
    usps = IDX_DATASETS["usps"]
    assert usps.image_side == 16 and dict(usps.split_sizes) == {"train": 7291, "test": 2007}
    assert usps.files["test"] == ("test-images-idx3-ubyte", "test-labels-idx1-ubyte")
    assert usps.md5 == {
        "train-images-idx3-ubyte": "930c29defcc17e8528b6df6b857d2b88",
        "train-labels-idx1-ubyte": "0b8da1613512399e4c031f1c3a79ea05",
        "test-images-idx3-ubyte": "c61cdc07cf001eab11d1e964027c4c52",
        "test-labels-idx1-ubyte": "662f4a662c3d770a29bc5cfa1e412180",
    }
    assert usps.mirrors == () and usps.class_names == tuple(str(i) for i in range(10))
    entry = DATASETS.get("usps")
    assert "usps" in DATASETS.names() and "16x16" in entry.description and "7291 train / 2007 test" in entry.description
    assert entry.classifier is not None and entry.classifier.epochs > 0


def test_load_usps_from_data_dir(isolated):
    images, labels = write_usps(isolated / "u")
    test_images, test_labels = write_usps(isolated / "u", "test", n=3, seed=1)
    ds = load_dataset("usps", DataSpec(data_dir=isolated / "u"))
    assert ds.x.shape == (5, 1, 16, 16) and ds.x.dtype == torch.uint8 and ds.name == "usps"
    assert torch.equal(ds.x[:, 0], torch.from_numpy(images)) and ds.labels.tolist() == labels.tolist()
    assert ds.num_classes == 10 and ds.class_names == [str(i) for i in range(10)] and ds.source == str(isolated / "u")
    test = load_dataset("usps", DataSpec(data_dir=isolated / "u", split="test", image_size=32))
    assert test.x.shape == (3, 1, 32, 32) and test.labels.tolist() == test_labels.tolist()


def test_mnist_test_names_are_not_usps_test_files(isolated):
    images, labels = tiny(3, 1)
    write(isolated / "u" / "t10k-images-idx3-ubyte.gz", idx_bytes(images))
    write(isolated / "u" / "t10k-labels-idx1-ubyte.gz", idx_bytes(labels))
    with pytest.raises(UserError, match=r"no USPS test files in .*expected test-images-idx3-ubyte\(\.gz\)"):
        load_dataset("usps", DataSpec(data_dir=isolated / "u", split="test"))


def test_search_order_like_mnist(isolated, monkeypatch):
    env = isolated / "env"
    write_usps(env, seed=1)
    write_usps(env / "usps", seed=2)
    write_usps(paths.data_cache_dir("usps"), seed=3)
    monkeypatch.setenv("GANKIT_DATA", str(env))
    assert load_dataset("usps").source == str(env / "usps")
    write_usps(isolated / "all" / "usps", seed=4)
    assert load_dataset("usps", DataSpec(data_dir=isolated / "all")).source == str(isolated / "all" / "usps")
    monkeypatch.setenv("GANKIT_DATA", str(isolated / "nothing"))
    assert load_dataset("usps").source == str(paths.data_cache_dir("usps"))


@pytest.mark.parametrize("download_on", [True, False])
def test_missing_files_say_where_to_put_them_and_never_download(isolated, monkeypatch, download_on):
    monkeypatch.setenv("GANKIT_DATA", str(isolated / "data"))
    with pytest.raises(UserError) as e:
        load_dataset("usps", DataSpec(download=download_on))
    msg = str(e.value)
    assert msg.startswith("USPS train files not found in ") and "no public download" in msg
    assert "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz" in msg
    assert "--data-dir DIR" in msg and "$GANKIT_DATA/usps" in msg and str(paths.data_cache_dir("usps")) in msg
    assert "\n" not in msg
    with pytest.raises(UserError, match="USPS has no public download"):
        download(IDX_DATASETS["usps"], isolated / "dest")


def test_mnist_sized_files_are_not_usps_images(isolated):
    write_usps(isolated / "u", side=28)
    with pytest.raises(UserError, match=r"shape \(5, 28, 28\), not USPS images \(uint8 \(N, 16, 16\)\)"):
        load_dataset("usps", DataSpec(data_dir=isolated / "u"))


def test_mnist_files_where_usps_is_looked_for_are_skipped_and_named(isolated, monkeypatch):
    images, labels = tiny(5, 0, side=28)
    write_split(isolated / "env", "train", images, labels)  # these play MNIST's official files
    digests = {"train-images-idx3-ubyte": hashlib.md5(idx_bytes(images)).hexdigest(),
               "train-labels-idx1-ubyte": hashlib.md5(idx_bytes(labels)).hexdigest()}
    change_idx_dataset(monkeypatch, "mnist", md5=digests)
    change_idx_dataset(monkeypatch, "usps", md5={s: "0" * 32 for s in digests})
    monkeypatch.setenv("GANKIT_DATA", str(isolated / "env"))
    with pytest.raises(UserError, match="holds the MNIST files, not USPS"):
        load_dataset("usps")


def test_a_usps_conversion_of_ones_own_is_used_with_a_note(isolated, monkeypatch, capsys):
    # USPS has no official IDX release: another conversion with the right shape, count and labels is used
    images, labels = write_usps(isolated / "u")
    change_idx_dataset(monkeypatch, "usps", md5={"train-images-idx3-ubyte": hashlib.md5(idx_bytes(images)).hexdigest(),
                                                 "train-labels-idx1-ubyte": "0" * 32})
    ds = load_dataset("usps", DataSpec(data_dir=isolated / "u"))
    assert torch.equal(ds.labels, torch.as_tensor(labels, dtype=ds.labels.dtype))
    assert "differs from the USPS conversion gankit knows" in capsys.readouterr().err
