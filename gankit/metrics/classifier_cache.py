"""The classifier cache: one safetensors file per dataset (per folder content for `folder`), and
the command line that fills it.

`<cache_dir>/classifiers/<dataset>.safetensors`, or `folder-<key>.safetensors` with the key of
`folder_key`. Weights are stored with safetensors only (no pickles); the training record (`info`:
dataset, test accuracy, seed, architecture, ...) rides along as JSON in the file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

import torch

from gankit import paths
from gankit.errors import UserError
from gankit.progress import say
from gankit.files import atomic_path
from gankit.metrics.classifier import Device, DomainClassifier
from gankit.metrics.classifier_folder import check_folder, folder_key, folder_shape
from gankit.metrics.classifier_train import own_classifiers, recipe_of, train_classifier


def cache_path(dataset_name: str, key: Optional[str] = None) -> Path:
    """Where the classifier of `dataset_name` is cached (`folder`: the one of `folder_key` `key`)."""
    name = f"{dataset_name}-{key}" if key else dataset_name
    return paths.cache_dir() / "classifiers" / f"{name}.safetensors"


def save_classifier(model: DomainClassifier, info: dict[str, Any], path: Union[str, Path]) -> None:
    """Write weights + info (JSON in the metadata) as safetensors, atomically and durably."""
    from safetensors.torch import save

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {path.parent} for the classifier cache: {e.strerror or e}") from None
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, durable=True) as tmp:
        # to bytes, then written: safetensors' save_file would make the file private (0600)
        tmp.write_bytes(save(tensors, metadata={"info": json.dumps(info)}))


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

    A `per_content` dataset (`folder`): the classifier of the labelled folder `data_dir` (train/
    and test/ with class subfolders) at `image_size` and `channels` (the model's; None: what the
    folder loads as), cached per `folder_key`, so a folder whose files change is trained anew.
    A missing or unreadable cache file is (re)trained when `train_if_missing`, else a UserError.
    """
    key = None
    if recipe_of(dataset_name).per_content:
        data_dir = check_folder(data_dir)
        image_size, channels = folder_shape(dataset_name, data_dir, image_size, channels)
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
    say(f"gankit's {dataset_name} classifier (for FID and the other scores) {problem}: training it once "
        f"(minutes on a laptop CPU); it is cached at {path}")
    model, info = train_classifier(dataset_name, data_dir, device=device, image_size=image_size, channels=channels)
    save_classifier(model, info, path)
    return model, info


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m gankit.metrics.classifier DATASET [--data-dir DIR] [--epochs N] [--seed S]`
    (a folder: also [--image-size S] [--channels C]): train, print the record, write the cache."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m gankit.metrics.classifier",
                                description="Train and cache a gankit domain classifier.")
    p.add_argument("dataset", choices=own_classifiers())
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
        path = cache_path(args.dataset, info.get("key"))
        save_classifier(model, info, path)
    except UserError as err:
        print(f"error: {err}")
        return err.exit_code
    print(json.dumps(info))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
