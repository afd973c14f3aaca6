"""gankit: train, evaluate and explore generative adversarial networks."""

__version__ = "0.2.0"


def load(run, checkpoint=None, device="cpu", ema=True):
    """A trained run, ready to sample and interpolate: see gankit.api.load and gankit.api.Model."""
    from gankit.api import load as _load

    return _load(run, checkpoint, device, ema)
