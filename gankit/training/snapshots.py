"""Sample grids from a fixed latent (and label) grid, so epochs can be compared image by image."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gankit.config import TrainConfig
from gankit.data.base import DataInfo, to_uint8


def fixed_grid_inputs(cfg: TrainConfig, data: DataInfo, device: torch.device, algo):
    """The grid's latents (the algorithm's `grid_latents`) and labels (row r shows class r mod K),
    from the seed alone.

    Drawn on the CPU so that the grid is the same on every device.
    """
    n = cfg.grid_size
    g = torch.Generator().manual_seed(cfg.seed + 7919)
    z = algo.grid_latents(n, g).to(device)
    labels = None
    if data.num_classes > 1:
        ncol = grid_columns(n, data)
        labels = (torch.arange(n) // ncol % data.num_classes).to(device)
    return z, labels


def grid_columns(n: int, data: DataInfo) -> int:
    if data.num_classes > 1 and data.num_classes <= n and n % data.num_classes == 0:
        return n // data.num_classes  # one row per class
    return math.ceil(math.sqrt(n))


@torch.no_grad()
def save_snapshot(trainer, path: Path) -> bool:
    """Draw the fixed grid with the sampling networks (EMA where kept) and write it to `path`.
    2-D point data gets a scatter plot of 2,000 samples over the real points instead. Returns
    whether it wrote (an algorithm with no sampler has no grid)."""
    from gankit.sampling import eval_mode
    from gankit.viz import plot_points, save_grid

    algo, cfg, info = trainer.algo, trainer.cfg, trainer.data.info()
    if algo.sampler is None:
        return False
    nets = trainer.sampling_nets()
    with eval_mode(nets[algo.sampler]):
        if info.kind == "points" and list(info.shape) == [1]:  # 1-D data: D against the optimal D
            save_optimal_d(trainer, nets, path)
            return True
        if info.kind == "points":
            n = 2000
            z = algo.latents(n, torch.Generator().manual_seed(cfg.seed + 7919))
            labels = (torch.arange(n) % info.num_classes).to(trainer.device) if algo.conditional else None
            pts = algo.generate(nets, z.to(trainer.device), labels).float().cpu()
            plot_points(pts, path, reference=trainer.data.x[:n], title=path.stem)
            return True
        labels = trainer.grid_labels if algo.conditional else None
        x = algo.generate(nets, trainer.grid_z, labels).float().cpu()
        save_grid(to_uint8(x), path, nrow=grid_columns(len(x), info))
    return True


def save_figures(trainer) -> None:
    """The algorithm's own end-of-training pictures (traversals, reconstructions) in the run
    folder, drawn with the sampling networks in eval mode; logged by name."""
    from gankit.sampling import eval_mode

    nets = trainer.sampling_nets()
    real = trainer.batches.take(torch.arange(min(64, len(trainer.data))))["x"]
    with eval_mode(*nets.values()), torch.no_grad():
        paths = trainer.algo.figures(nets, real.float(), trainer.run.path)
    for p in paths:
        trainer.run.log(f"wrote {p}")


OPTIMAL_D_PANELS = 4
OPTIMAL_D_ROWS = "optimal_d.jsonl"  # every snapshot's curves, one JSON row each


def save_optimal_d(trainer, nets, path: Path) -> None:
    """1-D data: the snapshot at `path` is D(x) beside D*(x) = p_data / (p_data + p_g) (p_g a KDE of
    20,000 samples); each snapshot's curves are appended to RUN/optimal_d.jsonl, and RUN/optimal_d.png
    shows up to four of them from the start to now (Goodfellow et al. 2014, Fig. 1)."""
    from gankit.data import toy1d
    from gankit.metrics.optimal_d import curves
    from gankit.sampling import eval_mode
    from gankit.viz import plot_optimal_d

    algo, cfg = trainer.algo, trainer.cfg
    if cfg.dataset not in toy1d.MIXTURES:
        return
    g = torch.Generator().manual_seed(cfg.seed + 7919)
    fake = algo.generate(nets, algo.latents(20000, g).to(trainer.device), None).float().cpu()
    D = algo.networks.get("D")
    d_of = None
    if D is not None and not algo.conditional and cfg.loss in ("nonsaturating", "minimax", "least-squares"):
        prob = cfg.loss != "least-squares"  # least squares (targets 1, 0) has the same D* unsquashed

        def d_of(x):
            with eval_mode(D):
                out = D(x.to(trainer.device)).float().cpu()
            return torch.sigmoid(out) if prob else out
    row = {"step": trainer.step, **curves(lambda x: toy1d.density(cfg.dataset, x), fake, d_of, trainer.data.x[:20000])}
    trainer.run.append_row(OPTIMAL_D_ROWS, row)
    # a resumed run's rows replace those of the same step; a row a crash cut short is skipped
    rows = {r["step"]: r for r in trainer.run.read_rows(OPTIMAL_D_ROWS) if isinstance(r.get("step"), int)}
    ordered = [rows[k] for k in sorted(rows) if k <= trainer.step]
    pick = sorted({round(i * (len(ordered) - 1) / max(1, OPTIMAL_D_PANELS - 1)) for i in range(OPTIMAL_D_PANELS)})
    what = f"{cfg.model} on {cfg.dataset}" + ("" if d_of else f" ({cfg.loss}: D is not a probability, D* alone)")
    plot_optimal_d([row], path, title=what)
    plot_optimal_d([ordered[i] for i in pick], trainer.run.path / "optimal_d.png", title=what)
