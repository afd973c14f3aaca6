"""A trained discriminator as a feature extractor (Radford et al. 2015, section 5.1).

The paper takes every layer of a DCGAN's D, max-pools each to a 4x4 spatial grid, flattens and
concatenates them, and fits a regularized linear L2-SVM on those features with few labels. Here
every activation module (LeakyReLU / ReLU) of D is a layer: conv activations are max-pooled to 4x4,
dense ones kept as they are. The classifier is scikit-learn's LinearSVC (squared hinge loss, L2
penalty: an L2-SVM) on standardized features, one-vs-rest, fitted on `per_class` labelled training
images per class (chosen by seed) and scored on the whole test split.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.labelled import labelled_subset
from gankit.errors import UserError
from gankit.progress import Work

POOL = 4
C = 0.1  # LinearSVC's inverse regularization on standardized features


@torch.no_grad()
def layer_features(D: nn.Module, x: torch.Tensor, batch: int = 500, call: Optional[Callable] = None) -> torch.Tensor:
    """Model-range images (N, ...) -> (N, F): every activation of D, conv maps max-pooled to 4x4,
    flattened and concatenated. D runs in eval mode; call(D, x) runs it (default D(x))."""
    acts = [m for m in D.modules() if isinstance(m, (nn.LeakyReLU, nn.ReLU))]
    if not acts:
        raise UserError("this discriminator has no activation layers to take features from")
    got: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: got.append(out)) for m in acts]
    was = D.training
    D.eval()
    device = next(D.parameters()).device
    out = []
    try:
        with Work(f"D features of {len(x)} images", len(x), "img") as work:
            for i in range(0, len(x), batch):
                got.clear()
                (call or (lambda d, b: d(b)))(D, x[i:i + batch].to(device))
                parts = [F.adaptive_max_pool2d(a.float(), POOL).flatten(1) if a.dim() == 4 else a.float().flatten(1)
                         for a in got]
                out.append(torch.cat(parts, 1).cpu())
                work.update(len(out[-1]))
    finally:
        for h in hooks:
            h.remove()
        D.train(was)
    return torch.cat(out)


def linear_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor,
                    c: float = C) -> float:
    """Test accuracy of a linear L2-SVM fitted on standardized training features."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    scaler = StandardScaler().fit(train_f.numpy())
    # the dual solver even with more images than features: on 10,000 x 4,096 D features the primal
    # one ran past 10 minutes a fit, the dual about 3 (MNIST, docs/benchmarks.md, D features)
    svm = LinearSVC(C=c, max_iter=5000, dual=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on tiny labelled sets: the fit is still used
        svm.fit(scaler.transform(train_f.numpy()), train_y.numpy())
    pred = svm.predict(scaler.transform(test_f.numpy()))
    return float((pred == test_y.numpy()).mean())


def evaluate(extract: Callable[[torch.Tensor], torch.Tensor], train_x: torch.Tensor, train_y: torch.Tensor,
             test_x: torch.Tensor, test_y: torch.Tensor, per_class: list[int], seeds: list[int],
             c: float = C) -> list[dict]:
    """For each labels-per-class count and seed: the linear classifier's test accuracy on
    `extract`'s features. The test features are computed once; the training ones for the union of
    the labelled subsets."""
    test_f = extract(test_x)
    subsets = {(n, s): labelled_subset(train_y, n, s) for n in per_class for s in seeds}
    union = torch.cat(list(subsets.values())).unique()
    pos = torch.full((len(train_y),), -1, dtype=torch.int64)
    pos[union] = torch.arange(len(union))
    union_f = extract(train_x[union])
    rows = []
    for (n, s), idx in subsets.items():
        t0 = time.perf_counter()
        acc = linear_accuracy(union_f[pos[idx]], train_y[idx], test_f, test_y, c)
        rows.append({"labels_per_class": n, "seed": s, "accuracy": round(acc, 4),
                     "errors": int(round((1 - acc) * len(test_y))), "feature_dim": int(test_f.shape[1]),
                     "fit_s": round(time.perf_counter() - t0, 2)})
    return rows


def pixels(x: torch.Tensor) -> torch.Tensor:
    """Raw pixels as features: (N, C*H*W) floats."""
    return x.float().flatten(1)
