"""`gankit eval`: every score of a set of generated samples, each with its protocol and its floor.

The reference is the dataset's test split. The floor beside each score is the same metric for real
images the generator was trained on: a random subset of the train split, as large as the sample
set, scored against the same test split. A generator cannot be expected to beat its floor; a
score near it is as good as the data allows at that sample size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch

from gankit.errors import UserError
from gankit.metrics import distances, modes, prdc
from gankit.metrics.features import Embedding, Extractor, make_extractor

PRDC_MAX_REFERENCE = 10_000  # real vectors for precision/recall/density/coverage (k-NN balls)
# name -> (label in the table, which way is better)
METRICS = {
    "fid": ("FID", "lower"),
    "kid": ("KID", "lower"),
    "inception_score": ("Inception Score", "higher"),
    "precision": ("precision (k=3)", "higher"),
    "recall": ("recall (k=3)", "higher"),
    "density": ("density (k=5)", "higher"),
    "coverage": ("coverage (k=5)", "higher"),
    "classes_covered": ("classes covered", "higher"),
    "kl_to_data": ("KL(classes || data)", "lower"),
    "label_accuracy": ("label accuracy", "higher"),
    "modes_captured": ("modes captured", "higher"),
    "high_quality": ("high-quality share", "higher"),
    "reverse_kl": ("reverse KL of modes", "lower"),
    "kl_to_uniform": ("KL(modes || uniform)", "lower"),
    "d_acc_real": ("D accuracy on real", "info"),
    "d_acc_fake": ("D accuracy on generated", "info"),
    "d_class_acc": ("D's class head on real test images", "higher"),
    "d_class_accuracy": ("D as classifier: test acc.", "higher"),
    "d_class_errors": ("D as classifier: errors", "lower"),
    "code_accuracy": ("code accuracy (Hungarian)", "higher"),
    "code_accuracy_majority": ("code accuracy (majority)", "higher"),
    "nll_iwae": ("-log p(x), IWAE (nats)", "lower"),
    "nll_elbo": ("-ELBO (nats)", "lower"),
    "recon_mse": ("reconstruction MSE", "lower"),
    "ppl_z": ("perceptual path length, z", "lower"),
    "ppl_w": ("perceptual path length, w", "lower"),
}


@dataclass
class Reference:
    """The dataset side of an evaluation, computed once and reused (during training too)."""

    dataset: str
    kind: str  # "image" or "points"
    extractor: Extractor
    test_x: torch.Tensor
    test_labels: Optional[torch.Tensor]
    test: Embedding
    num_classes: int
    train_shares: Optional[torch.Tensor]
    test_mu_cov: tuple = ()
    _train: object = None  # the train Dataset, loaded on first use
    _data_args: dict = field(default_factory=dict)

    @property
    def train(self):
        if self._train is None:
            self._train = _load(self.dataset, "train", **self._data_args)
        return self._train


def _load(dataset: str, split: str, data_dir=None, image_size=None, channels=None):
    from pathlib import Path

    from gankit.data import DataSpec, load_dataset

    return load_dataset(dataset, DataSpec(data_dir=Path(data_dir) if data_dir else None, split=split,
                                          image_size=image_size, channels=channels))


def reference(dataset: str, data_dir: Optional[str] = None, image_size: Optional[int] = None,
              channels: Optional[int] = None, extractor: str = "classifier", device: str = "cpu") -> Reference:
    """Load the test split of `dataset` (at the model's image size) and embed it."""
    from gankit.data import DATASETS

    entry = DATASETS.get(dataset)
    args = dict(data_dir=data_dir, image_size=image_size, channels=channels)
    test = _load(dataset, "test", **args)  # a folder without train/ and test/ stops here, saying so
    shape = dict(image_size=int(test.x.shape[-1]), channels=int(test.x.shape[1])) if test.kind == "image" else {}
    ex = make_extractor(extractor, dataset, entry.kind, data_dir, device, **shape)
    emb = ex(test.x)
    ref = Reference(dataset=dataset, kind=test.kind, extractor=ex, test_x=test.x, test_labels=test.labels,
                    test=emb, num_classes=test.num_classes, train_shares=None, _data_args=args)
    ref.test_mu_cov = distances.mean_cov(emb.features)
    return ref


def _class_pred(emb: Embedding) -> Optional[torch.Tensor]:
    return emb.probs.argmax(dim=1) if emb.probs is not None else None


def quick(ref: Reference, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> dict:
    """The cheap scores logged during training: FID against the test split, classes covered (or
    modes captured), and label accuracy for conditional samples."""
    emb = ref.extractor(x)
    out = {"fid": round(distances.frechet_distance(*distances.mean_cov(emb.features), *ref.test_mu_cov), 4)}
    out.update(_mode_scores(ref, x, emb, labels, with_histogram=False))
    return out


def _train_shares(ref: Reference) -> Optional[torch.Tensor]:
    if ref.train_shares is None and ref.train.labels is not None and ref.dataset != "stacked-mnist":
        ref.train_shares = modes.histogram(ref.train.labels, ref.num_classes)
    return ref.train_shares


def _mode_scores(ref: Reference, x: torch.Tensor, emb: Embedding, labels: Optional[torch.Tensor],
                 with_histogram: bool = True) -> dict:
    out: dict = {}
    if ref.kind == "points":
        from gankit.data.toy2d import mode_centres, mode_std

        out.update(modes.mixture_modes(x, mode_centres(ref.dataset), mode_std(ref.dataset)))
        out.pop("num_modes")
    elif emb.channel_preds is not None:
        out.update(modes.stacked_modes(emb.channel_preds))
        out.pop("num_modes")
    elif emb.probs is not None and ref.extractor.name.startswith("classifier"):
        pred = _class_pred(emb)
        stats = modes.class_stats(pred, ref.num_classes, _train_shares(ref))
        out["classes_covered"] = stats["classes_covered"]
        out["kl_to_data"] = stats["kl_to_data"]
        if with_histogram:
            out["histogram"] = stats["histogram"]
        if labels is not None:
            out["label_accuracy"] = round(modes.label_accuracy(pred, labels), 6)
    return out


def _subset(n_total: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=g)[:n]


def _scores(ref: Reference, x: torch.Tensor, emb: Embedding, labels: Optional[torch.Tensor], seed: int) -> dict:
    """Every distribution score of one sample set (features `emb` of inputs `x`) against the test split."""
    s: dict = {}
    s["fid"] = distances.frechet_distance(*distances.mean_cov(emb.features), *ref.test_mu_cov)
    kid_mean, kid_std = distances.kid(emb.features, ref.test.features, seed=seed)
    s["kid"], s["kid_std"] = kid_mean, kid_std
    if emb.probs is not None:
        s["inception_score"], s["inception_score_std"] = distances.inception_score(emb.probs)
    real = ref.test.features
    if len(real) > PRDC_MAX_REFERENCE:
        real = real[_subset(len(real), PRDC_MAX_REFERENCE, seed)]
    s["precision"], s["recall"] = prdc.precision_recall(real, emb.features, k=3)
    s["density"], s["coverage"] = prdc.density_coverage(real, emb.features, k=5)
    s.update(_mode_scores(ref, x, emb, labels))
    return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in s.items()}


def evaluate(ref: Reference, x: torch.Tensor, labels: Optional[torch.Tensor] = None, seed: int = 0,
             memorization: bool = True) -> dict:
    """Scores of samples `x` (uint8 (N, C, H, W) images or float (N, 2) points) and their floors.

    `labels`: the classes conditional samples were generated for (label accuracy), or None.
    Returns {"protocol": ..., "scores": ..., "floor": ..., "memorization": ... (images only)}.
    """
    n = len(x)
    if n < 10:
        raise UserError(f"need at least 10 samples to evaluate, got {n}")
    want = tuple(ref.test_x.shape[1:])
    if tuple(x.shape[1:]) != want:
        raise UserError(f"samples have shape {tuple(x.shape[1:])} but {ref.dataset} test data is {want}; "
                        "generate samples of the dataset's size (or pass the run folder)")
    emb = ref.extractor(x)
    scores = _scores(ref, x, emb, labels, seed)
    train = ref.train
    idx = _subset(len(train), min(n, len(train)), seed)
    floor_x = train.x[idx]
    floor_emb = ref.extractor(floor_x)
    floor_labels = train.labels[idx] if labels is not None and train.labels is not None else None
    floor = _scores(ref, floor_x, floor_emb, floor_labels, seed)
    if "label_accuracy" in floor:  # the classifier's own accuracy on real images it never saw
        floor["label_accuracy"] = ref.extractor.info.get("classifier_test_accuracy", floor["label_accuracy"])
    result = {
        "protocol": {
            "dataset": ref.dataset,
            "n_samples": n,
            "reference": f"{ref.dataset} test split, {len(ref.test_x)} items",
            "floor": f"{len(idx)} random {ref.dataset} training items (seed {seed}) against the same test split",
            "image_shape": list(want),
            "seed": seed,
            "kid": "cubic polynomial kernel, 100 subsets of min(1000, n)",
            "prdc": f"test split as real set (at most {PRDC_MAX_REFERENCE}); precision/recall k=3, "
                    "density/coverage k=5",
            **ref.extractor.info,
        },
        "scores": scores,
        "floor": floor,
    }
    if memorization and ref.kind == "image":
        from gankit.metrics.memorization import memorization as memo

        result["memorization"] = memo(x, train.x, ref.test_x, emb.features,
                                      ref.extractor(train.x).features, ref.test.features)
    return result


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def metric_rows(result: dict) -> list[tuple[str, str, str, str, str]]:
    """(key, label, value, floor, better) of each metric the result holds, in METRICS order, the
    numbers formatted; shared by the terminal table and the HTML report."""
    scores, floor = result["scores"], result.get("floor", {})
    return [(key, label, _fmt(scores[key]), _fmt(floor.get(key)), better)
            for key, (label, better) in METRICS.items() if key in scores]


def class_shares(scores: dict) -> str:
    """The class histogram as percentages, or "" when the scores have none."""
    return " ".join(f"{100 * s:.1f}" for s in scores.get("histogram", []))


def format_table(result: dict) -> str:
    """The evaluation as lines a person reads: protocol, then metric / value / floor / better."""
    p = result["protocol"]
    lines = [f"{p['n_samples']} samples of {p['dataset']} {tuple(p['image_shape'])}, seed {p['seed']}",
             f"  reference: {p['reference']}",
             f"  floor:     {p['floor']}",
             f"  features:  {p.get('extractor')}" + (f" (test accuracy {p['classifier_test_accuracy']:.4f})"
                                                    if "classifier_test_accuracy" in p else ""),
             f"  resizing:  {p.get('resize')}",
             "",
             f"  {'metric':26s} {'value':>10s} {'floor':>10s}  better"]
    scores = result["scores"]
    for key, label, v, floor, better in metric_rows(result):
        if f"{key}_std" in scores:
            v += f" +-{scores[key + '_std']:.4f}" if key == "kid" else f" +-{scores[key + '_std']:.2f}"
        lines.append(f"  {label:26s} {v:>10s} {floor:>10s}  {better}")
    if "histogram" in scores:
        lines.append(f"  class shares (%): {class_shares(scores)}")
    for key, text in p.items():  # the protocols of the algorithm's own scores
        if key.endswith("_protocol"):
            lines.append(f"  {key[:-len('_protocol')]}: {text}")
    m = result.get("memorization")
    if m:
        for space in ("pixel", "feature"):
            c = m[space]
            lines.append(f"  nearest-training distance, {space:7s}: median {c['samples']['q50']:.4f} "
                         f"(test {c['test']['q50']:.4f}), near-copies {100 * c['near_copy_share']:.2f}% "
                         f"(test 1% by construction)")
        w = m.get("latent_walks")
        if w:
            lines.append(f"  latent walks ({w['walks']} x {w['steps']} images): jump ratio (largest step / mean step, "
                         f"features) median {w['jump_ratio_median']:.2f}, 90th pct {w['jump_ratio_q90']:.2f}; "
                         f"replaying the nearest training images {w['replay_jump_ratio_median']:.2f}; "
                         f"{w['distinct_nearest_mean']:.1f} distinct nearest training images a walk")
    return "\n".join(lines)
