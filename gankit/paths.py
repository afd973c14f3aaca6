"""Where gankit keeps things of its own: the data and cache folders."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache folder: $GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gankit"


def data_cache_dir(dataset: str) -> Path:
    """Where downloaded files of `dataset` go: <cache_dir>/data/<dataset>."""
    return cache_dir() / "data" / dataset
