"""Datasets by name. `load_dataset("mnist", DataSpec(...))` returns an in-memory `Dataset`."""

from gankit.data.base import DataSpec, Dataset, to_model_range, to_uint8
from gankit.data.registry import DATASETS

# Importing the loader modules registers them.
from gankit.data import digits, folder, idx_sets, stacked, toy1d, toy2d  # noqa: E402,F401


def load_dataset(name: str, spec: DataSpec | None = None) -> Dataset:
    """Load the dataset registered as `name` (a UserError for unknown names or bad files)."""
    return DATASETS.get(name).load(spec or DataSpec())


__all__ = ["DATASETS", "DataSpec", "Dataset", "load_dataset", "to_model_range", "to_uint8"]
