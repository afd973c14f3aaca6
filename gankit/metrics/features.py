"""Feature extractors: the space the distance metrics are computed in.

- `classifier` (default): gankit's domain classifier of the dataset, for the datasets whose
  registry entry has a classifier recipe (`DatasetEntry.classifier`: MNIST, Fashion-MNIST, USPS,
  digits, or a labelled `folder` with train/ and test/, trained at the model's size and channels);
  its penultimate features (128-d) for FID/KID/precision/recall, its class probabilities for the
  Inception Score and class histograms. A dataset whose recipe names `channels_of` (Stacked MNIST:
  mnist) is judged channel by channel by that dataset's classifier, the per-channel feature
  vectors concatenated.
- `inception`: the Inception-v3 pool features (2048-d) of the FID everyone quotes, through the
  torch-fidelity package (which needs a torchvision that matches your torch) and its converted
  TensorFlow weights. The weights file is read with `torch.load(weights_only=True)`; nothing from
  disk is unpickled as code.
- 2-D points (ring8, grid25) are their own features.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from gankit import paths
from gankit.data import DATASETS
from gankit.data.base import ClassifierRecipe
from gankit.errors import NoClassifier, UserError

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


@dataclass
class Embedding:
    """What an extractor gives for N inputs: features (N, F) float32, optionally class
    probabilities (N, K) and, for Stacked MNIST, per-channel digit predictions (N, 3)."""

    features: torch.Tensor
    probs: Optional[torch.Tensor] = None
    channel_preds: Optional[torch.Tensor] = None


@dataclass
class Extractor:
    name: str
    info: dict = field(default_factory=dict)  # the protocol: what it is, its accuracy, resizing

    def __call__(self, x: torch.Tensor) -> Embedding:  # pragma: no cover - interface
        raise NotImplementedError


class ClassifierExtractor(Extractor):
    """The domain classifier of `dataset` (its recipe: `recipe`). A `channels_of` recipe classifies
    each of the images' `channels` channels with that dataset's classifier."""

    def __init__(self, dataset: str, recipe: ClassifierRecipe, data_dir: Optional[str] = None,
                 device: str = "cpu", image_size: Optional[int] = None, channels: Optional[int] = None):
        from gankit.metrics.classifier_cache import load_classifier

        self.dataset = dataset
        self.per_channel = channels if recipe.channels_of else None  # how many channels, one by one
        if recipe.channels_of and not channels:
            raise ValueError(f"the {dataset} classifier needs the images' number of channels")
        self.model, cinfo = load_classifier(recipe.channels_of or dataset, data_dir, device=device,
                                            image_size=image_size, channels=channels)
        size = self.model.image_size
        colour = "3 channels kept" if self.model.in_channels == 3 else "RGB averaged to grey"
        extra = {"classifier_folder": cinfo["folder"], "classifier_key": cinfo["key"]} if "key" in cinfo else {}
        per_channel = f"; each channel classified on its own by the {cinfo['dataset']} classifier"
        super().__init__(
            name=f"classifier:{cinfo['dataset']}" + (" per channel" if self.per_channel else ""),
            info={"extractor": "gankit domain classifier", "classifier_dataset": cinfo["dataset"],
                  "classifier_test_accuracy": cinfo["test_accuracy"],
                  "feature_dim": self.model.config["feature_dim"] * (self.per_channel or 1),
                  **extra,
                  "resize": f"bilinear to {size}x{size} (antialiased when shrinking), {colour}"
                  + (per_channel if self.per_channel else "")},
        )

    def __call__(self, x: torch.Tensor) -> Embedding:
        from gankit.metrics.classifier import embed

        if not self.per_channel:
            f, p = embed(self.model, x)
            return Embedding(f, p)
        if x.shape[1] != self.per_channel:
            raise UserError(f"{self.dataset} images have {self.per_channel} channels, these have {x.shape[1]}")
        parts = [embed(self.model, x[:, c:c + 1]) for c in range(self.per_channel)]
        preds = torch.stack([p.argmax(dim=1) for _, p in parts], dim=1)
        return Embedding(torch.cat([f for f, _ in parts], dim=1), None, preds)


class PointsExtractor(Extractor):
    def __init__(self):
        super().__init__(name="points", info={"extractor": "identity (the points themselves)", "resize": "none"})

    def __call__(self, x: torch.Tensor) -> Embedding:
        return Embedding(x.float())


def inception_weights() -> Path:
    """The Inception weights file: found in gankit's or torch hub's cache, or downloaded with its
    SHA-256 prefix checked. A UserError saying where to put the file when neither works."""
    candidates = [paths.cache_dir() / "inception" / INCEPTION_FILE,
                  Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE]
    for p in candidates:
        if p.is_file():
            return p
    target = candidates[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(INCEPTION_URL, str(target), hash_prefix=INCEPTION_FILE.split("-")[-1][:8],
                                       progress=False)
    except Exception as err:  # offline, proxy, a hash mismatch: all end the same way
        raise UserError(f"Inception weights missing and not downloadable ({type(err).__name__}); download "
                        f"{INCEPTION_URL} to {target}, or use the default --extractor classifier") from None
    return target


def load_state_weights_only(path: Path) -> dict:
    """A state dict of tensors from a torch file, refusing anything that would run code."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path} is not a plain weights file ({type(err).__name__}); delete it and download "
                        "it again") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a state dict of tensors; delete it and download it again")
    return state


class InceptionExtractor(Extractor):
    def __init__(self, device: str = "cpu"):
        try:
            import torch_fidelity.feature_extractor_inceptionv3 as fe
        except Exception as err:  # ImportError, or torchvision failing to load beside this torch
            raise UserError(
                f"Inception features need torch-fidelity and a torchvision built for torch {torch.__version__} "
                f"({type(err).__name__} on import); `pip install torch-fidelity` with the matching torchvision, "
                "or use the default --extractor classifier") from None
        state = load_state_weights_only(inception_weights())
        # torch-fidelity loads weights itself with pickle allowed; hand it the already checked dict
        with _patched(fe, "load_state_dict_from_url", lambda *a, **k: state):
            self.model = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
        self.model.to(device)
        self.device = device
        super().__init__(name="inception-v3", info={
            "extractor": "Inception-v3 (torch-fidelity, TF-compatible weights)", "feature_dim": 2048,
            "resize": "torch-fidelity's TF1-style bilinear to 299x299; grey repeated to RGB"})

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, batch_size: int = 100) -> Embedding:
        feats, probs = [], []
        for i in range(0, len(x), batch_size):
            b = x[i:i + batch_size].to(self.device)
            if b.shape[1] == 1:
                b = b.expand(-1, 3, -1, -1)
            f, logits = self.model(b)
            feats.append(f.float().cpu())
            probs.append(logits.float().softmax(dim=1).cpu())
        return Embedding(torch.cat(feats), torch.cat(probs))


@contextlib.contextmanager
def _patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


EXTRACTORS = ("classifier", "inception")


def make_extractor(kind: str, dataset: str, data_kind: str, data_dir: Optional[str] = None,
                   device: str = "cpu", image_size: Optional[int] = None,
                   channels: Optional[int] = None) -> Extractor:
    """The extractor `kind` ("classifier" or "inception") for a dataset of `data_kind`.
    `image_size`, `channels`: the images' (a folder's classifier is trained at them)."""
    if data_kind == "points":
        return PointsExtractor()
    if kind == "inception":
        return InceptionExtractor(device)
    if kind != "classifier":
        raise UserError(f"unknown extractor {kind!r}; use one of {', '.join(EXTRACTORS)}")
    recipe = DATASETS.get(dataset).classifier if dataset in DATASETS else None
    if recipe is None:
        judged = [name for name, entry in DATASETS if entry.classifier]
        raise NoClassifier(f"gankit has no domain classifier for dataset {dataset!r} (it has one for "
                           f"{', '.join(judged)})")
    return ClassifierExtractor(dataset, recipe, data_dir, device, image_size, channels)
