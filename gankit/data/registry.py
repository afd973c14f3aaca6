"""DATASETS: name -> loader. Each loader module registers itself on import."""

from __future__ import annotations

from gankit.data.base import DatasetEntry
from gankit.registry import Registry

DATASETS: Registry[DatasetEntry] = Registry("dataset", "gankit datasets")


def register(name: str, description: str, kind: str = "image"):
    """Decorator: register `fn(spec) -> Dataset` under `name`."""

    def wrap(fn):
        DATASETS.register(name, DatasetEntry(load=fn, description=description, kind=kind))
        return fn

    return wrap
