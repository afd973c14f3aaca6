"""The datasets gankit reads from IDX files: MNIST, Fashion-MNIST and USPS.

The MD5s are of the uncompressed files. MNIST: the values torchvision and others publish.
Fashion-MNIST: computed from Debian's dataset-fashion-mnist files and matching the values published
alongside the upstream gz checksums (8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). USPS:
there is no official IDX distribution; the MD5s are those of the IDX files gankit is developed
with, the common 7,291 / 2,007 split converted from the float HDF5 copy of Kaggle's "USPS dataset"
(values 0..1 rounded to 0..255, white digits on black like MNIST). No public mirror serves them,
so there is no download.

Classifier recipes: MNIST and Fashion-MNIST have 60,000 training images, so a few epochs of
batches of 128 are enough optimizer steps; USPS has about 7,000, so it gets smaller batches and
more epochs for a comparable number of steps.
"""

from __future__ import annotations

from pathlib import Path

from gankit.data.base import ClassifierRecipe
from gankit.data.idx_dataset import IdxDataset, register_idx, standard_files

DIGITS = tuple(str(i) for i in range(10))

MNIST = register_idx(IdxDataset(
    name="mnist",
    title="MNIST",
    summary="MNIST handwritten digits",
    image_side=28,
    split_sizes={"train": 60000, "test": 10000},
    files=standard_files("t10k"),
    md5={
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    class_names=DIGITS,
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    classifier=ClassifierRecipe(epochs=4, batch_size=128),
))

FASHION_MNIST = register_idx(IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    summary="Fashion-MNIST clothing images",
    image_side=28,
    split_sizes={"train": 60000, "test": 10000},
    files=standard_files("t10k"),
    md5={
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Bag", "Sneaker", "Ankle boot",
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),  # Debian: dataset-fashion-mnist
    classifier=ClassifierRecipe(epochs=5, batch_size=128),
))

USPS = register_idx(IdxDataset(
    name="usps",
    title="USPS",
    summary="USPS handwritten digits (Hull 1994)",
    image_side=16,
    split_sizes={"train": 7291, "test": 2007},
    files=standard_files("test"),
    md5={
        "train-images-idx3-ubyte": "930c29defcc17e8528b6df6b857d2b88",
        "train-labels-idx1-ubyte": "0b8da1613512399e4c031f1c3a79ea05",
        "test-images-idx3-ubyte": "c61cdc07cf001eab11d1e964027c4c52",
        "test-labels-idx1-ubyte": "662f4a662c3d770a29bc5cfa1e412180",
    },
    class_names=DIGITS,
    classifier=ClassifierRecipe(epochs=20, batch_size=64),
))
