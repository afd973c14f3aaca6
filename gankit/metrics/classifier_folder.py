"""The classifier of a labelled image folder (`folder`, recipe `per_content`): which folders can
have one, how long it trains, and the key that ties a cached one to the folder's content.

A folder can hold 60 images or 100,000. What a small CNN needs to learn well is optimizer steps,
not epochs (the digits recipe, 20 epochs of 1437 images in batches of 64, is 460 steps). So
a folder gets at least FOLDER_MIN_STEPS steps (small batches for small folders; BatchNorm needs a
few images a batch), capped at FOLDER_MAX_EPOCHS epochs (past that a tiny folder is memorized
rather than learned, and the time grows for nothing); large folders get FOLDER_MIN_EPOCHS passes.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Optional, Union

from gankit.data import DataSpec, load_dataset
from gankit.data.folder import class_names, has_splits, listing
from gankit.errors import NoClassifier, UserError

FOLDER_MIN_STEPS, FOLDER_MIN_EPOCHS, FOLDER_MAX_EPOCHS = 300, 2, 20
FOLDER_BATCH = (8, 128)  # batch = n_train // 16 within these bounds: 16 steps an epoch until 2048 images


def check_folder(data_dir: Optional[Union[str, Path]]) -> Path:
    """The resolved folder, if a classifier can be trained for it: a train/ and a test/ split with
    class subfolders. Checked from the folder names alone, before any image is read."""
    if data_dir is None:
        raise UserError("the folder classifier needs --data-dir DIR (with train/ and test/ subfolders)")
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"--data-dir {root}: no such folder")
    if not has_splits(root):
        raise UserError(f"--data-dir {root} has no test split to test a classifier on: put the training images "
                        f"in {root / 'train'} and held-out images in {root / 'test'} (same class subfolders)")
    if not class_names(root):
        raise NoClassifier(f"--data-dir {root} has no class subfolders, so no classifier can be trained for it",
                           "use --extractor inception, or put one subfolder per class in train/ and test/")
    return root


def folder_recipe(n_train: int) -> tuple[int, int]:
    """(epochs, batch size) for a folder of `n_train` training images (see the module docstring)."""
    lo, hi = FOLDER_BATCH
    batch = min(hi, max(lo, n_train // 16))
    steps_per_epoch = max(1, n_train // batch)  # a lone leftover image is dropped (BatchNorm)
    epochs = math.ceil(FOLDER_MIN_STEPS / steps_per_epoch)
    return min(FOLDER_MAX_EPOCHS, max(FOLDER_MIN_EPOCHS, epochs)), batch


def folder_shape(dataset_name: str, root: Path, image_size: Optional[int],
                 channels: Optional[int]) -> tuple[int, int]:
    """(image size, channels) the folder loads at; when either is left to the loader, the test
    split is loaded to see (pass both to skip that)."""
    if image_size is None or channels is None:
        spec = DataSpec(data_dir=root, split="test", image_size=image_size, channels=channels)
        test = load_dataset(dataset_name, spec)
        image_size, channels = int(test.x.shape[-1]), int(test.x.shape[1])
    return int(image_size), int(channels)


def folder_key(data_dir: Union[str, Path], image_size: int, channels: int) -> str:
    """16 hex digits of SHA-256 over the resolved folder path, image size, channels and every file
    under it with its size and mtime: a folder whose files change gets a new classifier."""
    root = Path(data_dir).expanduser().resolve()
    blob = json.dumps([str(root), int(image_size), int(channels), listing(root)])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
