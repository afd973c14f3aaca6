"""DATASETS: name -> loader. Each loader module registers itself on import."""

from __future__ import annotations

from typing import Optional

from gankit.data.base import ClassifierRecipe, DatasetEntry
from gankit.registry import Registry

DATASETS: Registry[DatasetEntry] = Registry("dataset", "gankit datasets")


def register(name: str, description: str, kind: str = "image", classifier: Optional[ClassifierRecipe] = None):
    """Decorator: register `fn(spec) -> Dataset` under `name` (see DatasetEntry for the rest)."""

    def wrap(fn):
        DATASETS.register(name, DatasetEntry(load=fn, description=description, kind=kind, classifier=classifier))
        return fn

    return wrap
