"""`digits`: scikit-learn's bundled 8x8 handwritten digits (1797 images), no network needed.

Splits (sklearn's order, fixed): "train" = the first 1437 images (80%), "test" = the last 360, so
that evaluation runs on images the model never saw. The pixel values 0..16 are scaled to 0..255.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data.base import ClassifierRecipe, DataSpec, Dataset
from gankit.data.registry import register
from gankit.data.transforms import check_split, resize_uint8
from gankit.errors import UserError

N_TRAIN = 1437  # of 1797; the rest is the test split


# the classifier: 1437 images give few steps an epoch, so small batches and many epochs
@register("digits", "scikit-learn's 8x8 handwritten digits, grey, 10 classes (1437 train / 360 test); no download",
          classifier=ClassifierRecipe(epochs=20, batch_size=64))
def load_digits(spec: DataSpec) -> Dataset:
    """x: uint8 (N, 1, 8, 8) (or spec.image_size square), labels: int64 (N,) in 0..9."""
    split = check_split("digits", spec.split)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:  # a declared dependency, but say what to do if it is missing anyway
        raise UserError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    bunch = sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)  # (1797, 8, 8), values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    x = np.rint(images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    part = slice(0, N_TRAIN) if split == "train" else slice(N_TRAIN, None)
    xt = torch.from_numpy(np.ascontiguousarray(x[part])).unsqueeze(1)
    return Dataset(
        "digits",
        x=resize_uint8(xt, spec.image_size),
        labels=torch.from_numpy(np.ascontiguousarray(labels[part])),
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        kind="image",
        source="scikit-learn",
    )
