"""Judge generated samples with the domain classifier: label accuracy and class coverage.

Usage: python bench/label_accuracy.py SAMPLES.npz --dataset mnist [--data-dir ../shared/data/mnist]
  SAMPLES.npz  `images`: uint8 (N, H, W) or (N, H, W, C); optional `labels`: int (N,), the class
               each sample was asked for (conditional GANs).
  --dataset    mnist, fashion-mnist or digits: whose classifier judges the samples.
  --data-dir   where that dataset's files are, used only if the classifier must be trained first
               (it is cached under <cache>/classifiers/<dataset>.safetensors afterwards).
Prints the classifier's own test accuracy, the label accuracy (if labels are given, also per
requested class), the predicted class histogram, how many classes are covered and how evenly
(a mode-collapsed generator covers few classes and has a large max/min share ratio).
Plain prints; it never fails on bad numbers, only on unreadable input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gankit.errors import UserError  # noqa: E402
from gankit.metrics.classifier import SUPPORTED, classify, load_classifier  # noqa: E402


def read_samples(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The npz's images as uint8 (N, C, H, W) and its labels as int64 (N,) or None."""
    with np.load(path) as f:
        if "images" not in f:
            raise UserError(f"{path} has no `images` array (it has: {', '.join(f.files)})")
        images = np.asarray(f["images"])
        labels = np.asarray(f["labels"]).astype(np.int64) if "labels" in f else None
    if images.dtype != np.uint8:
        raise UserError(f"{path}: `images` must be uint8, got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    else:
        raise UserError(f"{path}: `images` must be (N, H, W) or (N, H, W, C), got {images.shape}")
    if labels is not None and labels.shape != (len(images),):
        raise UserError(f"{path}: `labels` must be (N,) = ({len(images)},), got {labels.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images))
    return x, (torch.from_numpy(labels) if labels is not None else None)


def report(pred: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> None:
    n = len(pred)
    if labels is not None:
        hit = pred == labels
        print(f"label accuracy: {hit.float().mean().item():.4f}  ({int(hit.sum())} of {n} samples "
              "classified as their requested label)")
        per = []
        for c in range(num_classes):
            asked = labels == c
            if asked.any():
                per.append(f"{c}:{hit[asked].float().mean().item():.3f}")
        print("  per requested label: " + " ".join(per))
    counts = torch.bincount(pred, minlength=num_classes)
    shares = counts.float() / max(n, 1)
    print("predicted class histogram:")
    for c in range(num_classes):
        bar = "#" * int(round(shares[c].item() * 50))
        print(f"  {c:2d}: {int(counts[c]):6d}  {shares[c].item():6.1%}  {bar}")
    covered = int((counts > 0).sum())
    print(f"classes covered: {covered} of {num_classes} (at least one sample)")
    print(f"classes with >= 1% share: {int((shares >= 0.01).sum())} of {num_classes}")
    lo, hi = shares.min().item(), shares.max().item()
    ratio = f"{hi / lo:.2f}" if lo > 0 else "inf (a class has no sample)"
    print(f"max/min share ratio: {ratio}  (max {hi:.1%}, min {lo:.1%}; 1.00 is perfectly even)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("samples", type=Path)
    p.add_argument("--dataset", default="mnist", choices=SUPPORTED)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        images, labels = read_samples(args.samples)
        t0 = time.perf_counter()
        model, info = load_classifier(args.dataset, args.data_dir, device=args.device)
        load_s = time.perf_counter() - t0
    except (UserError, OSError, ValueError) as err:
        print(f"error: {err}")
        return 2
    num_classes = model.config["num_classes"]
    print(f"samples: {len(images)} images {tuple(images.shape[1:])} from {args.samples}"
          f"{', with requested labels' if labels is not None else ', no labels'}")
    print(f"classifier: {args.dataset}, test accuracy {info['test_accuracy']:.4f} "
          f"(trained {info.get('epochs')} epochs, seed {info.get('seed')}; ready in {load_s:.1f} s)")
    t0 = time.perf_counter()
    pred = classify(model, images)
    print(f"classified in {time.perf_counter() - t0:.2f} s")
    if labels is not None and ((labels < 0) | (labels >= num_classes)).any():
        print(f"note: some requested labels are outside 0..{num_classes - 1}; they never match")
    report(pred, labels, num_classes)
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
