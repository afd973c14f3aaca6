"""Datasets by name. `load_dataset("mnist", DataSpec(...))` returns an in-memory `Dataset`."""

from gankit.data.base import DataSpec, Dataset, to_model_range, to_uint8
from gankit.data.registry import DATASETS
from gankit.errors import UserError

# Importing the loader modules registers them.
from gankit.data import digits, folder, idx_sets, stacked, toy1d, toy2d  # noqa: E402,F401


def load_dataset(name: str, spec: DataSpec | None = None) -> Dataset:
    """Load the dataset registered as `name` (a UserError for unknown names or bad files)."""
    try:
        return DATASETS.get(name).load(spec or DataSpec())
    except PermissionError as e:  # a folder or file the user may not read, wherever the loader met it
        raise UserError(f"cannot read {e.filename or 'the data'}: permission denied; make it readable "
                        "(chmod) or point --data-dir at a copy you can read") from None


__all__ = ["DATASETS", "DataSpec", "Dataset", "load_dataset", "to_model_range", "to_uint8"]
