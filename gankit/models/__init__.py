"""Networks by family (MLP, DCGAN, the self-conditioning wrapper) and helpers they share. Which
named model uses which networks and algorithm is gankit/algorithms/registry.py."""

from gankit.models.base import ModelSpec

__all__ = ["ModelSpec"]
