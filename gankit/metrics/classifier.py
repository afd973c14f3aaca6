"""The domain classifier: gankit's own judge of generated images.

A small CNN trained once per dataset on its train split and cached under
`<cache_dir>/classifiers/<dataset>.safetensors`; for a labelled image folder with train/ and test/
(`folder`), once per folder content, image size and channels under
`<cache_dir>/classifiers/folder-<key>.safetensors`. It tells whether a conditional GAN's samples carry
the label they were asked for, how the samples spread over the classes, and (through `features`)
gives the embedding that FID-like scores of these small grey datasets are computed in.

Weights are stored with safetensors only (no pickles); the training record (`info`: dataset, test
accuracy, seed, architecture, ...) rides along as JSON in the file's metadata.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit import paths
from gankit.errors import UserError

# dataset -> (epochs, batch size). Measured on 2 CPU cores, seed 0: MNIST 2 epochs reach 99.32%
# (too close to the 99.3% target), 3 reach 99.45%, 4 reach 99.51% in about a minute; Fashion-MNIST
# 4 epochs reach 91.5%; digits (1437 images) needs smaller batches for enough steps, 20 epochs
# reach ~97.8% in 3 s.
DEFAULTS = {"mnist": (4, 128), "fashion-mnist": (5, 128), "digits": (20, 64)}
SUPPORTED = tuple(DEFAULTS)
FOLDER = "folder"
# A folder can hold 60 images or 100,000. What a small CNN needs to learn well is optimizer steps,
# not epochs: the digits classifier above reached ~97.8% after ~460 steps. So a folder gets at least
# FOLDER_MIN_STEPS steps (small batches for small folders, BatchNorm needs a few images a batch),
# capped at FOLDER_MAX_EPOCHS epochs (past that a tiny folder is memorized rather than learned, and
# the time grows for nothing); large folders get FOLDER_MIN_EPOCHS passes.
FOLDER_MIN_STEPS, FOLDER_MIN_EPOCHS, FOLDER_MAX_EPOCHS = 300, 2, 20
FOLDER_BATCH = (8, 128)  # batch = n_train // 16 within these bounds: 16 steps an epoch until 2048 images

Device = Union[str, torch.device]


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: BatchNorm right after it has its own shift.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class DomainClassifier(nn.Module):
    """conv(w)-conv(w)-pool-conv(2w)-conv(2w)-pool-adaptive pool-fc(feature_dim)-fc(num_classes).

    Input: float (N, in_channels, H, W) in [-1, 1], any H, W >= 4 (28x28 MNIST, 32x32, 8x8 digits): the
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


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def prepare(images: torch.Tensor, image_size: int, device: Device = "cpu", channels: int = 1) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float (N, channels, S, S) in [-1, 1] as the classifier expects.

    channels 1: RGB is averaged to grey; channels 3: grey is repeated to RGB. Other sizes are resized to S = image_size (bilinear, antialiased
    when shrinking so thin strokes are not skipped).
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


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of (N, C, H, W) by its own random offset in [-max_shift, max_shift]^2.

    Done for the whole batch at once: pad with the background value (-1), then gather each
    image's window through index arithmetic, no per-image Python loop.
    """
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    off = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator, device=generator.device)
    off = off.to(x.device)
    rows = off[0, :, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = off[1, :, None] + torch.arange(w, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices around a slice put their broadcast dims first: (N, H, W, C).
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def _logits(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    device = _device_of(model)
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
    device = _device_of(model)
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(prepare(images[i : i + batch_size], model.image_size, device, model.in_channels))
        feats.append(f.float().cpu())
        probs.append(model.head(f).float().softmax(dim=1).cpu())
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


def fit(
    model: DomainClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    generator: torch.Generator,
    batch_size: int = 128,
    lr: float = 3e-3,
) -> None:
    """Train `model` in place on uint8 images (N, C, S, S) and int64 labels (N,).

    AdamW under a one-cycle schedule (warm-up then cosine decay), which reaches high accuracy in
    few epochs, with random shifts as augmentation (+-2 px at 28x28, +-1 px at 8x8).
    """
    device = _device_of(model)
    x_all = prepare(images, model.image_size, device, model.in_channels)  # whole set as floats: 60k x 28x28 = 188 MB
    y_all = labels.to(device)
    max_shift = max(1, round(model.image_size / 14))
    n = len(x_all)
    steps_per_epoch = math.ceil(n / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch), pct_start=0.2
    )
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=generator.device).to(device)
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples; drop a lone leftover
                continue
            x = random_shift(x_all[idx], max_shift, generator)
            loss = F.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def _check_name(dataset_name: str) -> None:
    if dataset_name not in DEFAULTS and dataset_name != FOLDER:
        raise UserError(
            f"no domain classifier for dataset {dataset_name!r}; "
            f"supported: {', '.join(SUPPORTED + (FOLDER,))}"
        )


def _check_folder(data_dir: Optional[Union[str, Path]]) -> Path:
    """The resolved folder, if a classifier can be trained for it: a train/ and a test/ split with
    class subfolders. Checked from the folder names alone, before any image is read."""
    from gankit.data.folder import class_names, has_splits

    if data_dir is None:
        raise UserError("the folder classifier needs --data-dir DIR (with train/ and test/ subfolders)")
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"--data-dir {root}: no such folder")
    if not has_splits(root):
        raise UserError(f"--data-dir {root} has no test split to test a classifier on: put the training images "
                        f"in {root / 'train'} and held-out images in {root / 'test'} (same class subfolders)")
    if not class_names(root):
        raise UserError(f"--data-dir {root} has no class subfolders, so no classifier can be trained for it; "
                        "use --extractor inception, or put one subfolder per class in train/ and test/")
    return root


def folder_recipe(n_train: int) -> tuple[int, int]:
    """(epochs, batch size) for a folder of `n_train` training images (see FOLDER_MIN_STEPS)."""
    lo, hi = FOLDER_BATCH
    batch = min(hi, max(lo, n_train // 16))
    steps_per_epoch = max(1, n_train // batch)  # a lone leftover image is dropped (BatchNorm)
    epochs = math.ceil(FOLDER_MIN_STEPS / steps_per_epoch)
    return min(FOLDER_MAX_EPOCHS, max(FOLDER_MIN_EPOCHS, epochs)), batch


def folder_key(data_dir: Union[str, Path], image_size: int, channels: int) -> str:
    """16 hex digits of SHA-256 over the resolved folder path, image size, channels and every file
    under it with its size and mtime: a folder whose files change gets a new classifier."""
    from gankit.data.folder import listing

    root = Path(data_dir).expanduser().resolve()
    blob = json.dumps([str(root), int(image_size), int(channels), listing(root)])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _folder_shape(data_dir, image_size: Optional[int], channels: Optional[int]) -> tuple[int, int]:
    """(image size, channels) the folder loads at; when either is left to the loader, the test
    split is loaded to see (pass both to skip that)."""
    if image_size is None or channels is None:
        test = _load_split(FOLDER, data_dir, "test", image_size, channels)
        image_size, channels = int(test.x.shape[-1]), int(test.x.shape[1])
    return int(image_size), int(channels)


def _load_split(dataset_name: str, data_dir: Optional[Path], split: str,
                image_size: Optional[int] = None, channels: Optional[int] = None):
    from gankit.data import DataSpec, load_dataset  # lazy: the data package imports a lot

    spec = DataSpec(data_dir=Path(data_dir) if data_dir is not None else None, split=split,
                    image_size=image_size, channels=channels)
    ds = load_dataset(dataset_name, spec)
    if ds.kind != "image" or ds.labels is None:
        raise UserError(f"dataset {dataset_name!r} has no labelled images to train a classifier")
    return ds


def train_classifier(
    dataset_name: str,
    data_dir: Optional[Union[str, Path]] = None,
    epochs: Optional[int] = None,
    seed: int = 0,
    device: Device = "cpu",
    image_size: Optional[int] = None,
    channels: Optional[int] = None,
) -> tuple[DomainClassifier, dict[str, Any]]:
    """Train the classifier of `dataset_name` on its train split; test it on its test split.

    `folder` (data_dir with train/ and test/ class subfolders) trains at `image_size` and
    `channels` (None: what the folder loads as), keeping colour; the built-in datasets ignore both.
    Deterministic for a given seed on CPU, and leaves the global RNG state as it found it.
    Returns (model in eval mode, info) with info = dict(dataset, test_accuracy, epochs,
    batch_size, seed, n_train, n_test, image_size, gankit_version, train_seconds, arch), where
    arch holds the DomainClassifier arguments that rebuild the model when it is loaded; a folder's
    info adds folder (its resolved path), key (`folder_key`), channels and class_names.
    """
    _check_name(dataset_name)
    is_folder = dataset_name == FOLDER
    if is_folder:
        data_dir = _check_folder(data_dir)
        image_size, channels = _folder_shape(data_dir, image_size, channels)
        key = folder_key(data_dir, image_size, channels)  # before reading: a file changed meanwhile retrains
        train = _load_split(FOLDER, data_dir, "train", image_size, channels)
        test = _load_split(FOLDER, data_dir, "test", image_size, channels)
        default_epochs, batch_size = folder_recipe(len(train))
    else:
        default_epochs, batch_size = DEFAULTS[dataset_name]
        train = _load_split(dataset_name, data_dir, "train")
        test = _load_split(dataset_name, data_dir, "test")
    epochs = default_epochs if epochs is None else int(epochs)
    device = torch.device(device)
    size = int(train.x.shape[-1])
    in_channels = int(train.x.shape[1]) if is_folder else 1
    start = time.perf_counter()
    # Model init and dropout draw from the global RNG: seed it inside a fork so the caller's
    # random state is untouched.
    accel = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=accel, device_type=device.type if accel else "cuda"):
        torch.manual_seed(seed)
        num_classes = max(train.num_classes, int(train.labels.max()) + 1)
        model = DomainClassifier(num_classes=num_classes, image_size=size, in_channels=in_channels).to(device)
        model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU
        gen = torch.Generator(device="cpu").manual_seed(seed)
        fit(model, train.x, train.labels, epochs, gen, batch_size=batch_size)
    seconds = time.perf_counter() - start
    info = dict(
        dataset=dataset_name,
        test_accuracy=round(accuracy(model, test.x, test.labels), 6),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        n_train=len(train),
        n_test=len(test),
        image_size=size,
        gankit_version=gankit.__version__,
        train_seconds=round(seconds, 1),
        arch=model.config,
    )
    if is_folder:
        info.update(folder=str(data_dir), key=key, channels=in_channels, class_names=train.class_names)
    return model, info


def cache_path(dataset_name: str, key: Optional[str] = None) -> Path:
    """Where the classifier of `dataset_name` is cached (`folder`: the one of `folder_key` `key`)."""
    name = f"{dataset_name}-{key}" if key else dataset_name
    return paths.cache_dir() / "classifiers" / f"{name}.safetensors"


def save_classifier(model: DomainClassifier, info: dict[str, Any], path: Union[str, Path]) -> None:
    """Write weights + info (JSON in the metadata) as safetensors, atomically (temp + replace)."""
    from safetensors.torch import save  # to bytes: save_file makes its files private (0600)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # A unique name beside the target; not mkstemp, whose files are private (0600) too.
    tmp = str(path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"))
    try:
        with open(tmp, "wb") as f:
            f.write(save(tensors, metadata={"info": json.dumps(info)}))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_classifier(
    path: Union[str, Path], device: Device = "cpu"
) -> tuple[DomainClassifier, dict[str, Any]]:
    """Load a classifier written by `save_classifier` (safetensors only, never pickle).

    Raises ValueError (or the safetensors error) for a file that is not a valid classifier.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "info" not in meta:
        raise ValueError(f"{path} has no classifier info in its metadata")
    info = json.loads(meta["info"])
    model = DomainClassifier(**info["arch"])
    model.load_state_dict(load_file(str(path)), strict=True)  # a missing/odd tensor raises
    model = model.to(device=device, memory_format=torch.channels_last).eval()
    return model, info


def load_classifier(
    dataset_name: str,
    data_dir: Optional[Union[str, Path]] = None,
    train_if_missing: bool = True,
    device: Device = "cpu",
    image_size: Optional[int] = None,
    channels: Optional[int] = None,
) -> tuple[DomainClassifier, dict[str, Any]]:
    """The cached classifier of `dataset_name` (eval mode), training and caching it if needed.

    `folder`: the classifier of the labelled folder `data_dir` (train/ and test/ with class
    subfolders) at `image_size` and `channels` (the model's; None: what the folder loads as),
    cached per `folder_key`, so a folder whose files change is trained anew.
    A missing or unreadable cache file is (re)trained when `train_if_missing`, else a UserError.
    """
    _check_name(dataset_name)
    key = None
    if dataset_name == FOLDER:
        data_dir = _check_folder(data_dir)
        image_size, channels = _folder_shape(data_dir, image_size, channels)
        key = folder_key(data_dir, image_size, channels)
    path = cache_path(dataset_name, key)
    problem = "is missing"
    if path.exists():
        try:
            model, info = read_classifier(path, device)
            if info.get("dataset") == dataset_name and info.get("key") == key:
                return model, info
            problem = f"holds a classifier of {info.get('dataset')!r}"
        except Exception as err:  # any corruption: truncated file, bad JSON, wrong tensors
            problem = f"is unreadable ({type(err).__name__})"
    if not train_if_missing:
        extra = f" --image-size {image_size} --channels {channels}" if key else ""
        raise UserError(
            f"the {dataset_name} classifier cache {path} {problem}; train it with "
            f"`python -m gankit.metrics.classifier {dataset_name} --data-dir DIR{extra}`"
        )
    model, info = train_classifier(dataset_name, data_dir, device=device, image_size=image_size, channels=channels)
    save_classifier(model, info, path)
    return model, info


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m gankit.metrics.classifier DATASET [--data-dir DIR] [--epochs N] [--seed S]`
    (DATASET `folder`: also [--image-size S] [--channels C])."""
    import argparse

    p = argparse.ArgumentParser(description="Train and cache a gankit domain classifier.")
    p.add_argument("dataset", choices=SUPPORTED + (FOLDER,))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--image-size", type=int, default=None, help="folder: the model's image size")
    p.add_argument("--channels", type=int, default=None, help="folder: 1 (grey) or 3 (RGB)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        model, info = train_classifier(
            args.dataset, args.data_dir, args.epochs, args.seed, args.device, args.image_size, args.channels
        )
    except UserError as err:
        print(f"error: {err}")
        return err.exit_code
    path = cache_path(args.dataset, info.get("key"))
    save_classifier(model, info, path)
    print(json.dumps(info))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
