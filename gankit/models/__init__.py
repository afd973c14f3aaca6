"""Model families by name: `MODELS.get("dcgan").build(cfg, data_info) -> (G, D)`."""

from gankit.models.base import ModelSpec
from gankit.models.registry import MODELS

__all__ = ["MODELS", "ModelSpec"]
