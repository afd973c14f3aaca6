"""The in-memory dataset every loader returns, and the options loaders take.

A dataset lives in memory as one tensor: images as uint8 (N, C, H, W), 2-D points as float32
(N, 2). Batches are taken by indexing; there is no per-item Python work on the training hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch


@dataclass
class DataSpec:
    """What a loader needs to know besides the dataset's name.

    data_dir: a folder to look in first (None: the default search order of that dataset).
    split: "train" or "test".
    image_size: side length wanted by the model; loaders of fixed-size data ignore it unless asked
        to resize (folder always resizes and centre-crops to it).
    channels: 1 (grey) or 3 (RGB) for folder data; None keeps what the files have (folder: grey if
        every image is grey, else RGB).
    download: whether a loader may fetch missing standard files from the network.
    """

    data_dir: Optional[Path] = None
    split: str = "train"
    image_size: Optional[int] = None
    channels: Optional[int] = None
    download: bool = True


@dataclass
class Dataset:
    """A whole dataset in memory.

    x: images uint8 (N, C, H, W) with kind == "image", or points float32 (N, D) with kind == "points".
    labels: int64 (N,) class indices in [0, num_classes), or None for unlabelled data.
    class_names: one name per class (len == num_classes), or empty when unlabelled.
    """

    name: str
    x: torch.Tensor
    labels: Optional[torch.Tensor]
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    kind: str = "image"
    source: str = ""  # where the data came from (a folder, "scikit-learn", ...), for the log

    def __post_init__(self) -> None:
        if self.kind == "image":
            assert self.x.dtype == torch.uint8 and self.x.dim() == 4, "images must be uint8 (N,C,H,W)"
        elif self.kind == "points":
            assert self.x.dtype == torch.float32 and self.x.dim() == 2, "points must be float32 (N,D)"
        else:
            raise ValueError(f"unknown dataset kind {self.kind!r}")
        if self.labels is not None:
            assert self.labels.dtype == torch.int64 and self.labels.shape == (len(self.x),)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one item: (C, H, W) for images, (D,) for points."""
        return tuple(self.x.shape[1:])

    @property
    def conditional(self) -> bool:
        return self.labels is not None and self.num_classes > 1

    def fields(self) -> dict[str, torch.Tensor]:
        """The named fields batches are drawn from (gankit/data/batches.py): "x", and "label" where
        the data have labels; what an algorithm's check_data and prepare get."""
        return {"x": self.x} if self.labels is None else {"x": self.x, "label": self.labels}

    def info(self) -> "DataInfo":
        return DataInfo(
            name=self.name,
            kind=self.kind,
            shape=list(self.shape),
            num_classes=self.num_classes if self.labels is not None else 0,
            class_names=list(self.class_names),
        )


@dataclass
class DataInfo:
    """What a model needs to know of its data, saved in the run folder so that `gankit sample`
    can rebuild the generator without loading the dataset.

    shape: one item's shape, [C, H, W] for images or [D] for points.
    num_classes: 0 for unlabelled data.
    """

    name: str
    kind: str
    shape: list[int]
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1]; float points pass through unchanged."""
    if x.dtype == torch.uint8:
        return x.float().mul_(2.0 / 255.0).sub_(1.0)
    return x


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (rounded, clamped)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


Loader = Callable[[DataSpec], Dataset]


@dataclass(frozen=True)
class ClassifierRecipe:
    """How gankit gets the domain classifier that judges a dataset's images (gankit/metrics).

    epochs, batch_size: the training recipe on the dataset's train split (tested on its test split).
    per_content: trained once per folder content, image size and channels (the `folder` dataset),
        its epochs and batch size chosen from the number of training images; the two fields above
        are unused.
    channels_of: no classifier of its own: each image channel is classified on its own by the
        classifier of that dataset (stacked-mnist: "mnist").
    """

    epochs: int = 0
    batch_size: int = 128
    per_content: bool = False
    channels_of: Optional[str] = None


@dataclass
class DatasetEntry:
    """A registered dataset: its loader, a line for `gankit datasets`, and how its images are
    judged (`classifier`: None when gankit has no domain classifier for it)."""

    load: Loader
    description: str
    kind: str = "image"
    classifier: Optional[ClassifierRecipe] = None
