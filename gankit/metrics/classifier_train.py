"""Training the domain classifier: a dataset's recipe, the training loop, `train_classifier`.

A dataset's recipe is its `DatasetEntry.classifier` (gankit/data): epochs and batch size for a
fixed dataset, `per_content` for a folder (classifier_folder.py), `channels_of` for a dataset
judged channel by channel by another's classifier (that one is trained instead).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F

import gankit
from gankit.data import DATASETS, DataSpec, Dataset, load_dataset
from gankit.data.base import ClassifierRecipe
from gankit.errors import UserError
from gankit.metrics.classifier import Device, DomainClassifier, accuracy, device_of, prepare
from gankit.metrics.classifier_folder import check_folder, folder_key, folder_recipe, folder_shape
from gankit.progress import Work


def own_classifiers(per_content: bool = True) -> tuple[str, ...]:
    """The datasets with a classifier of their own (not another's per channel); per_content False
    leaves out those trained per folder content, keeping those trained once per dataset."""
    return tuple(name for name, e in DATASETS if e.classifier and not e.classifier.channels_of
                 and (per_content or not e.classifier.per_content))


def recipe_of(dataset_name: str) -> ClassifierRecipe:
    """How the classifier of `dataset_name` is trained; a UserError if it has none of its own."""
    recipe = DATASETS.get(dataset_name).classifier if dataset_name in DATASETS else None
    if recipe is not None and recipe.channels_of:
        raise UserError(f"dataset {dataset_name!r} has no classifier of its own: each channel is judged by the "
                        f"{recipe.channels_of} classifier; train that one")
    if recipe is None:
        raise UserError(f"no domain classifier for dataset {dataset_name!r}; supported: {', '.join(own_classifiers())}")
    return recipe


def load_split(dataset_name: str, data_dir: Optional[Path], split: str,
               image_size: Optional[int] = None, channels: Optional[int] = None) -> Dataset:
    """One split of a dataset to train or test a classifier on: labelled images, else a UserError."""
    spec = DataSpec(data_dir=Path(data_dir) if data_dir is not None else None, split=split,
                    image_size=image_size, channels=channels)
    ds = load_dataset(dataset_name, spec)
    if ds.kind != "image" or ds.labels is None:
        raise UserError(f"dataset {dataset_name!r} has no labelled images to train a classifier")
    return ds


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


def fit(
    model: DomainClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    generator: torch.Generator,
    batch_size: int = 128,
    lr: float = 3e-3,
    what: str = "training the classifier",
) -> None:
    """Train `model` in place on uint8 images (N, C, S, S) and int64 labels (N,).

    AdamW under a one-cycle schedule (warm-up then cosine decay), which reaches high accuracy in
    few epochs, with random shifts as augmentation (+-2 px at 28x28, +-1 px at 16x16 and 8x8).
    """
    device = device_of(model)
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
    with Work(what, epochs * steps_per_epoch, "step") as work:
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator, device=generator.device).to(device)
            for i in range(steps_per_epoch):
                work.update()
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

    A `per_content` dataset (`folder`: data_dir with train/ and test/ class subfolders) trains at
    `image_size` and `channels` (None: what the folder loads as), keeping colour; the other
    datasets ignore both and train grey at their own size.
    Deterministic for a given seed on CPU, and leaves the global RNG state as it found it.
    Returns (model in eval mode, info) with info = dict(dataset, test_accuracy, epochs,
    batch_size, seed, n_train, n_test, image_size, gankit_version, train_seconds, arch), where
    arch holds the DomainClassifier arguments that rebuild the model when it is loaded; a folder's
    info adds folder (its resolved path), key (`folder_key`), channels and class_names.
    """
    recipe = recipe_of(dataset_name)
    if recipe.per_content:
        data_dir = check_folder(data_dir)
        image_size, channels = folder_shape(dataset_name, data_dir, image_size, channels)
        key = folder_key(data_dir, image_size, channels)  # before reading: a file changed meanwhile retrains
        train = load_split(dataset_name, data_dir, "train", image_size, channels)
        test = load_split(dataset_name, data_dir, "test", image_size, channels)
        default_epochs, batch_size = folder_recipe(len(train))
    else:
        default_epochs, batch_size = recipe.epochs, recipe.batch_size
        train = load_split(dataset_name, data_dir, "train")
        test = load_split(dataset_name, data_dir, "test")
    epochs = default_epochs if epochs is None else int(epochs)
    device = torch.device(device)
    size = int(train.x.shape[-1])
    in_channels = int(train.x.shape[1]) if recipe.per_content else 1
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
        fit(model, train.x, train.labels, epochs, gen, batch_size=batch_size,
            what=f"training the {dataset_name} classifier")
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
    if recipe.per_content:
        info.update(folder=str(data_dir), key=key, channels=in_channels, class_names=train.class_names)
    return model, info
