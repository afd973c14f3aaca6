"""The domain classifier: gankit's own judge of generated images, and how images are put to it.

A small CNN trained once per dataset on its train split (classifier_train.py) and cached
(classifier_cache.py); for a labelled image folder, once per folder content, image size and
channels (classifier_folder.py). Which datasets have one, and how it is trained, is their
`DatasetEntry.classifier` recipe. It tells whether a conditional GAN's samples carry the label they
were asked for, how the samples spread over the classes, and (through `features`) gives the
embedding that FID-like scores of these small datasets are computed in.

`python -m gankit.metrics.classifier DATASET --data-dir DIR` trains and caches one (see
`classifier_cache.main`).
"""

from __future__ import annotations

import importlib
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import nn

from gankit.progress import Work

Device = Union[str, torch.device]


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: BatchNorm right after it has its own shift.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class DomainClassifier(nn.Module):
    """conv(w)-conv(w)-pool-conv(2w)-conv(2w)-pool-adaptive pool-fc(feature_dim)-fc(num_classes).

    Input: float (N, in_channels, H, W) in [-1, 1], any H, W >= 4 (28x28 MNIST, 16x16 USPS, 8x8 digits): the
    adaptive pooling to a fixed 4x4 grid makes the head independent of the input size.
    `image_size` records the size it was trained at; `classify` resizes other sizes to it.
    `in_channels`: 1 (grey; RGB input is averaged) for the built-in datasets, 3 for colour folders.
    """

    def __init__(
        self,
        num_classes: int = 10,
        image_size: int = 28,
        width: int = 16,
        feature_dim: int = 128,
        dropout: float = 0.3,
        in_channels: int = 1,
    ):
        super().__init__()
        self.config = dict(
            num_classes=num_classes,
            image_size=image_size,
            width=width,
            feature_dim=feature_dim,
            dropout=dropout,
            in_channels=in_channels,
        )
        self.image_size = image_size
        self.in_channels = in_channels
        w = width
        self.body = nn.Sequential(
            *_conv_block(in_channels, w),
            *_conv_block(w, w),
            nn.MaxPool2d(2),
            *_conv_block(w, 2 * w),
            *_conv_block(2 * w, 2 * w),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * w * 16, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: (N, C, H, W) in [-1, 1] -> (N, feature_dim)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits: (N, C, H, W) in [-1, 1] -> (N, num_classes)."""
        return self.head(self.body(x))


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def prepare(images: torch.Tensor, image_size: int, device: Device = "cpu", channels: int = 1) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float (N, channels, S, S) in [-1, 1] as the classifier expects.

    channels 1: RGB is averaged to grey; channels 3: grey is repeated to RGB. Other sizes are
    resized to S = image_size (bilinear, antialiased when shrinking so thin strokes are not skipped).
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    x = images.to(device)
    x = x.float().mul_(2.0 / 255.0).sub_(1.0) if x.dtype == torch.uint8 else x.float()
    if channels == 1 and x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)
    elif channels != 1 and x.shape[1] != channels:
        if x.shape[1] != 1:
            raise ValueError(f"the classifier takes {channels} channels, these images have {x.shape[1]}")
        x = x.expand(-1, channels, -1, -1)
    if tuple(x.shape[-2:]) != (image_size, image_size):
        shrink = min(x.shape[-2:]) > image_size
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=shrink
        )
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def _logits(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    device = device_of(model)
    size = getattr(model, "image_size", images.shape[-1])
    out = [
        model(prepare(images[i : i + batch_size], size, device, getattr(model, "in_channels", 1))).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    if not out:
        return torch.zeros(0, getattr(model, "config", {}).get("num_classes", 10))
    return torch.cat(out)


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over uint8 images (N, C, H, W): (penultimate features (N, F), class probabilities
    (N, K)), both float32 on the CPU."""
    was_training = model.training
    model.eval()
    device = device_of(model)
    feats, probs = [], []
    with Work(f"embedding {len(images)} images", len(images), "img") as work:
        for i in range(0, len(images), batch_size):
            f = model.features(prepare(images[i : i + batch_size], model.image_size, device, model.in_channels))
            feats.append(f.float().cpu())
            probs.append(model.head(f).float().softmax(dim=1).cpu())
            work.update(len(f))
    model.train(was_training)
    if not feats:
        k = model.config["num_classes"]
        return torch.zeros(0, model.config["feature_dim"]), torch.zeros(0, k)
    return torch.cat(feats), torch.cat(probs)


def probabilities(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities of uint8 images (N, C, H, W): float32 (N, num_classes) on the CPU."""
    return _logits(model, images, batch_size).softmax(dim=1)


def classify(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted labels of uint8 images (N, C, H, W): int64 (N,) on the CPU."""
    return _logits(model, images, batch_size).argmax(dim=1)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of uint8 images (N, C, H, W) whose predicted label equals `labels` (N,)."""
    return float((classify(model, images) == labels.cpu()).float().mean()) if len(labels) else 0.0


def __getattr__(name: str) -> Any:
    """Names that moved out of this module, still importable from here for code outside
    gankit/metrics (bench/label_accuracy.py). Looked up on use: those modules import this one."""
    if name == "SUPPORTED":  # the datasets with a classifier trained on their own train split
        return importlib.import_module("gankit.metrics.classifier_train").own_classifiers(per_content=False)
    if name == "load_classifier":
        return importlib.import_module("gankit.metrics.classifier_cache").load_classifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from gankit.metrics.classifier_cache import main

    raise SystemExit(main())
