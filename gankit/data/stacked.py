"""Stacked MNIST: three MNIST digits as the R, G and B channels of one image, 1,000 modes.

The mode-collapse benchmark of VEEGAN and PacGAN: a generator that covers the data makes all
1,000 combinations (000..999) in equal shares. Each split has as many images as the MNIST split
it is built from (60,000 train, 10,000 test); image i stacks MNIST digits a_i, b_i, c_i drawn
uniformly with a fixed seed per split, so the data set is the same on every machine.
labels = 100 * label(a) + 10 * label(b) + label(c).
"""

from __future__ import annotations

import torch

from gankit.data.base import ClassifierRecipe, DataSpec, Dataset
from gankit.data.idx_dataset import load_idx_dataset
from gankit.data.registry import register

SPLIT_SEEDS = {"train": 0, "test": 1}


@register("stacked-mnist", "three MNIST digits as RGB channels, 28x28x3, 1000 classes (60000 / 10000)",
          classifier=ClassifierRecipe(channels_of="mnist"))
def load_stacked_mnist(spec: DataSpec) -> Dataset:
    """x: uint8 (N, 3, 28, 28) (or resized), labels: int64 (N,) in 0..999."""
    mnist = load_idx_dataset("mnist", spec)  # checks the split and finds the files like mnist does
    n = len(mnist)
    g = torch.Generator().manual_seed(SPLIT_SEEDS[spec.split])
    idx = torch.randint(0, n, (n, 3), generator=g)
    x = mnist.x[idx].squeeze(2)  # (N, 3, 1, H, W) -> (N, 3, H, W)
    y = mnist.labels[idx]
    labels = y[:, 0] * 100 + y[:, 1] * 10 + y[:, 2]
    return Dataset("stacked-mnist", x=x.contiguous(), labels=labels, num_classes=1000,
                   class_names=[f"{i:03d}" for i in range(1000)], kind="image",
                   source=f"{mnist.source} (stacked, seed {SPLIT_SEEDS[spec.split]})")
