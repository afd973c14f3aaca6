"""Pictures of what a GAN does: image grids, 2-D point clouds and loss curves, saved as PNG.

Every file is written to a temporary name in the target folder and then moved into place with
gankit.files.atomic_path, so a reader (a browser tab, a notebook polling the run folder) never sees half a PNG.
matplotlib is imported lazily inside the plotting functions: importing `gankit.viz` stays fast and
never touches a display.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from gankit.files import atomic_path

PathLike = Union[str, os.PathLike]


def make_grid(
    images: torch.Tensor, nrow: int, padding: int = 2, pad_value: int = 0
) -> torch.Tensor:
    """Tile images into one picture, row by row.

    images: uint8 (N, C, H, W). nrow: images per row (the last row may be short).
    Returns uint8 (C, rows * (H + padding) + padding, nrow * (W + padding) + padding); image k sits
    in row k // nrow, column k % nrow, with `padding` pixels of `pad_value` around every cell.
    """
    if images.dim() != 4:
        raise ValueError(f"make_grid wants (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = max(1, min(int(nrow), max(n, 1)))
    rows = max(1, math.ceil(n / nrow))
    step_h, step_w = h + padding, w + padding
    # Every cell is the image with `padding` above and to its left; empty cells are all padding.
    cells = torch.full((rows * nrow, c, step_h, step_w), pad_value, dtype=images.dtype)
    cells[:n, :, padding:, padding:] = images.detach().cpu()
    body = cells.view(rows, nrow, c, step_h, step_w).permute(2, 0, 3, 1, 4)
    body = body.reshape(c, rows * step_h, nrow * step_w)
    size = (c, rows * step_h + padding, nrow * step_w + padding)
    grid = torch.full(size, pad_value, dtype=images.dtype)
    grid[:, : rows * step_h, : nrow * step_w] = body  # the last `padding` rows/cols close the frame
    return grid


def save_png(image: torch.Tensor, path: PathLike, min_width: int = 256) -> None:
    """Write one uint8 image as PNG, atomically.

    image: uint8 (C, H, W) with C in {1, 3}, or (H, W) grey. Images narrower than `min_width`
    are enlarged by a whole-number factor with nearest-neighbour sampling, so 8x8 digits stay crisp
    and blocky instead of blurred.
    """
    from PIL import Image  # Pillow is light, but keep module import free of it anyway

    if image.dtype != torch.uint8:
        raise ValueError(f"save_png wants uint8 pixels, got {image.dtype}")
    if image.dim() == 3:
        if image.shape[0] not in (1, 3):
            raise ValueError(f"save_png wants 1 or 3 channels, got {image.shape[0]}")
        arr = image.detach().cpu().permute(1, 2, 0).numpy()
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
    elif image.dim() == 2:
        arr = image.detach().cpu().numpy()
    else:
        raise ValueError(f"save_png wants (C, H, W) or (H, W), got shape {tuple(image.shape)}")
    width = arr.shape[1]
    if 0 < width < min_width:
        factor = math.ceil(min_width / width)
        arr = np.repeat(np.repeat(arr, factor, axis=0), factor, axis=1)
    # uint8 (H, W) becomes mode "L", uint8 (H, W, 3) mode "RGB" (the mode= argument is deprecated)
    pil = Image.fromarray(np.ascontiguousarray(arr))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")


def save_grid(
    images: torch.Tensor, path: PathLike, nrow: Optional[int] = None, min_width: int = 256
) -> None:
    """Tile uint8 images (N, C, H, W) into a grid and save it as PNG (nrow: ceil(sqrt(N)))."""
    if nrow is None:
        nrow = max(1, math.ceil(math.sqrt(len(images))))
    save_png(make_grid(images, nrow), path, min_width=min_width)


def _save_figure(fig: Any, path: PathLike) -> None:
    """Save a matplotlib figure atomically and close it (figures are not garbage collected)."""
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def _pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display needed, fine on servers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_points(
    points: Union[torch.Tensor, np.ndarray],
    path: PathLike,
    reference: Union[torch.Tensor, np.ndarray, None] = None,
    title: str = "",
) -> None:
    """Scatter plot of 2-D points (N, 2), e.g. generator samples of a toy dataset, saved as PNG.

    reference: optional real points (M, 2), drawn underneath in grey so the generated ones
    (drawn in colour) can be compared against them.
    """
    plt = _pyplot()
    pts = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        ref = reference.detach().cpu() if torch.is_tensor(reference) else reference
        ref = np.asarray(ref, dtype=float)
        ax.scatter(ref[:, 0], ref[:, 1], s=4, c="0.7", alpha=0.5, label="real", linewidths=0)
    ax.scatter(pts[:, 0], pts[:, 1], s=4, c="tab:blue", alpha=0.6, label="generated", linewidths=0)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if reference is not None:
        ax.legend(loc="upper right", markerscale=3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def _smooth(values: np.ndarray) -> np.ndarray:
    """Exponential moving average with a window of about 5% of the points (bias-corrected)."""
    n = len(values)
    if n < 5:
        return values
    alpha = min(1.0, 2.0 / (max(n // 20, 2) + 1))
    out = np.empty(n)
    avg, weight = 0.0, 0.0
    for i, v in enumerate(values):
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha  # debias so the start is not pulled to 0
        out[i] = avg / weight
    return out


def _series(rows: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows that have a finite number under `key`."""
    steps, values = [], []
    for i, row in enumerate(rows):
        v = row.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            steps.append(row.get("step", i))
            values.append(float(v))
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def plot_losses(rows: Sequence[dict], path: PathLike, title: str = "") -> None:
    """Training curves from metrics.jsonl rows, saved as PNG.

    Top panel: d_loss and g_loss against step (faint raw points, smoothed line).
    Bottom panel: D(x), D(G(z)) (mean probabilities) and D's accuracy on real and fake, in [0, 1];
    for a critic (the WGANs, which log no probabilities) its mean scores on real and fake and the
    Wasserstein estimate, on their own scale. Missing keys are skipped; a single row gives single markers. Rows of a model with neither
    d_loss nor g_loss (no D: the vae) get one panel of every number they log.
    """
    if rows and not any(k in r for r in rows for k in ("d_loss", "g_loss")):
        return _plot_stats(rows, path, title)
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    top_series = [("d_loss", "D loss", "tab:red"), ("g_loss", "G loss", "tab:blue")]
    bottom_series = [
        ("d_real", "D(x)", "tab:green", "-"),
        ("d_fake", "D(G(z))", "tab:orange", "-"),
        ("d_acc_real", "D acc real", "tab:green", ":"),
        ("d_acc_fake", "D acc fake", "tab:orange", ":"),
    ]
    drawn_top = drawn_bottom = 0
    for key, label, colour in top_series:
        steps, values = _series(rows, key)
        if len(values) == 0:
            continue
        drawn_top += 1
        top.plot(steps, values, ".", color=colour, alpha=0.25, markersize=3)
        marker = "o" if len(values) == 1 else None  # a one-point line would be invisible
        top.plot(steps, _smooth(values), "-", color=colour, label=label, marker=marker)
    critic = not any(len(_series(rows, key)[1]) for key, *_ in bottom_series)
    if critic:  # the WGANs: raw critic scores, unbounded, and their gap (the Wasserstein estimate)
        bottom_series = [
            ("critic_real", "critic(x)", "tab:green", "-"),
            ("critic_fake", "critic(G(z))", "tab:orange", "-"),
            ("w_distance", "W estimate", "tab:purple", "-"),
        ]
    for key, label, colour, style in bottom_series:
        steps, values = _series(rows, key)
        if len(values) == 0:
            continue
        drawn_bottom += 1
        bottom.plot(steps, values, ".", color=colour, alpha=0.2, markersize=3)
        marker = "o" if len(values) == 1 else None
        bottom.plot(steps, _smooth(values), style, color=colour, label=label, marker=marker)
    top.set_ylabel("loss")
    top.grid(alpha=0.3)
    if drawn_top:
        top.legend(loc="upper right")
    else:
        top.text(0.5, 0.5, "no losses logged", ha="center", va="center", transform=top.transAxes)
    if critic and drawn_bottom:
        bottom.axhline(0.0, color="0.6", linewidth=0.8, linestyle="--")
        bottom.set_ylabel("critic score")
    else:
        bottom.axhline(0.5, color="0.6", linewidth=0.8, linestyle="--")  # where an even game sits
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_ylabel("probability / accuracy")
    bottom.set_xlabel("step")
    bottom.grid(alpha=0.3)
    if drawn_bottom:
        bottom.legend(loc="upper right", ncol=2)
    else:
        bottom.text(
            0.5, 0.5, "no D outputs logged", ha="center", va="center", transform=bottom.transAxes
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save_figure(fig, path)


BOOKKEEPING = ("step", "epoch", "images", "img_per_s", "s_per_epoch", "time_s")


def _plot_stats(rows: Sequence[dict], path: PathLike, title: str) -> None:
    """One panel: every number the training rows log besides the bookkeeping, against step."""
    plt = _pyplot()
    train = [r for r in rows if not r.get("eval") and "event" not in r]
    keys = list(dict.fromkeys(k for r in train for k, v in r.items() if k not in BOOKKEEPING
                              and isinstance(v, (int, float)) and not isinstance(v, bool)))
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, key in enumerate(keys):
        steps, values = _series(train, key)
        colour = f"C{i % 10}"
        ax.plot(steps, values, ".", color=colour, alpha=0.25, markersize=3)
        ax.plot(steps, _smooth(values), "-", color=colour, label=key, marker="o" if len(values) == 1 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if keys:
        ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_eval(rows: Sequence[dict], path: PathLike, title: str = "") -> bool:
    """FID (log scale) and classes covered / label accuracy of the `eval` rows of metrics.jsonl
    against step. Returns False (and writes nothing) when no row has a FID."""
    evals = [r for r in rows if r.get("eval")]
    steps, fid = _series(evals, "fid")
    if len(fid) == 0:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(steps, fid, "o-", color="tab:purple", label="FID", markersize=3)
    if (fid > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("FID")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    drawn = False
    for key, label, colour in (("classes_covered", "classes covered", "tab:green"),
                               ("modes_captured", "modes captured", "tab:green"),
                               ("label_accuracy", "label accuracy", "tab:orange")):
        s, v = _series(evals, key)
        if len(v):
            right.plot(s, v, ".--", color=colour, label=label)
            drawn = True
    if drawn:
        right.legend(loc="center right")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)
    return True


def plot_optimal_d(panels: list[dict], path: PathLike, title: str = "") -> None:
    """Goodfellow et al. 2014, Fig. 1: for each panel (`gankit.metrics.optimal_d.curves` plus its
    `step`), p_data (black dots), p_g (green), D (blue dashes) and D* = p_data / (p_data + p_g)
    (red) against x; densities on the left axis, D and D* on the right (0..1)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, p in zip(axes[0], panels):
        ax.plot(p["x"], p["p_data"], ":", c="k", lw=2, label="p_data")
        ax.plot(p["x"], p["p_g"], "-", c="tab:green", lw=1.5, label="p_g (KDE)")
        ax.set_xlabel("x")
        ax2 = ax.twinx()
        ax2.plot(p["x"], p["d_star"], "-", c="tab:red", lw=1, label="D* = p_data/(p_data+p_g)")
        if "d" in p:
            ax2.plot(p["x"], p["d"], "--", c="tab:blue", lw=1.5, label="D(x)")
        ax2.set_ylim(-0.02, 1.02)
        gap = f", gap {p['gap']:.3f}" if "gap" in p else ""
        ax.set_title(f"step {p['step']}{gap}", fontsize=9)
    h1, l1 = axes[0][0].get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _save_figure(fig, path)
