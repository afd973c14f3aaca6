"""Training that has gone wrong, noticed at each metrics row (every log_every steps).

Three signs:
- a logged number (a loss, D(x), ...) that is NaN or inf: the interval's mean is non-finite as
  soon as one step in it was, so this is caught within one logging interval; and weights (or
  batch-norm statistics, or the EMA) that are NaN or inf, which can happen while the losses of
  the interval still look finite;
- a discriminator that wins outright for a long stretch: in at least 90% of the rows covering the
  last `d_win_steps` steps, D classifies >= 99% of real and of fake images correctly and its mean
  D(G(z)) is <= 0.01 (G's samples are rejected with near certainty). A healthy run stays far from
  this: neither the default digits run nor the first 1,500 steps of DCGAN on MNIST log a single
  such row (the lowest D(G(z)) there is 0.13), while a run with a far too high learning rate sits
  there for good. The default 1000 steps fit inside keep=2 checkpoints 1000 steps apart, so a
  rollback finds one from before the stretch; after it, the stretch is counted afresh. It watches
  the cross-entropy losses only (nonsaturating, minimax), whose G gradient vanishes when D is
  sure: not least squares, hinge or the WGAN critics;
- a collapsed class histogram: a row with `classes_covered` (written by evaluation) of 2 or fewer
  on data with more than two classes, after an earlier row of the run covered at least half of
  them (early samples are blobs that a classifier may put in one or two classes: no collapse).

What happens then is `on_divergence`: stop (the default), rollback or warn; the trainer does it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable, Optional

import torch

from gankit.config import TrainConfig
from gankit.errors import UserError
from gankit.losses import PROBABILITY_LOSSES

WIN_ACCURACY = 0.99  # D's accuracy on real and on fake both at least this ...
WIN_D_FAKE = 0.01  # ... and mean D(G(z)) at most this: D wins outright
WIN_SHARE = 0.9  # share of rows in the window that must show it (one noisy row does not reset it)
COLLAPSED_CLASSES = 2  # classes_covered at or below this is a collapse


class Diverged(UserError):
    """Training diverged and was stopped; exit code 3, so scripts can tell it from a usage error."""

    exit_code = 3


class DivergenceWatch:
    """Looks at each metrics row; says whether (and since when) the run has diverged."""

    def __init__(self, cfg: TrainConfig, num_classes: int):
        self.log_every = cfg.log_every
        # only a G whose loss saturates (the cross-entropy losses) is stuck when D wins outright;
        # least squares and hinge give G a gradient however sure D is
        watch = cfg.d_win_steps and cfg.loss in PROBABILITY_LOSSES
        self.window = math.ceil(cfg.d_win_steps / cfg.log_every) if watch else 0
        self.wins: deque[bool] = deque(maxlen=max(1, self.window))
        self.num_classes = num_classes
        self.most_covered = 0  # the most classes any row of this run covered
        self.good_eval = 0  # the step of the newest evaluation that covered more than COLLAPSED_CLASSES

    def replay(self, rows: Iterable[dict]) -> None:
        """Rebuild the window from rows already logged (after a resume or a rollback)."""
        self.wins.clear()
        self.most_covered = self.good_eval = 0
        for row in rows:
            self._observe(row)

    def forget_wins(self) -> None:
        """After a rollback: the halved rates are judged on rows of their own, not on a stretch that
        began under the old ones (which could point before every checkpoint kept)."""
        self.wins.clear()

    def _observe(self, row: dict) -> None:
        if isinstance(row.get("classes_covered"), int):
            self.most_covered = max(self.most_covered, row["classes_covered"])
            if row["classes_covered"] > COLLAPSED_CLASSES:
                self.good_eval = row["step"]
        keys = ("d_acc_real", "d_acc_fake", "d_fake")
        if self.window and all(isinstance(row.get(k), (int, float)) for k in keys):
            self.wins.append(_d_wins(row))

    def check(self, row: dict, weights_finite: bool = True) -> Optional[tuple[str, int]]:
        """(what is wrong, the last step known good) if `row` (or the weights) show divergence."""
        step = row["step"]
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        bad += [] if weights_finite else ["weights"]
        if bad:
            return f"non-finite {', '.join(bad)}", step - self.log_every
        covered = row.get("classes_covered")
        if (isinstance(covered, int) and self.num_classes > COLLAPSED_CLASSES and covered <= COLLAPSED_CLASSES
                and 2 * self.most_covered >= self.num_classes):
            # the collapse may be as old as the last evaluation that passed, not one log interval
            return (f"samples cover only {covered} of {self.num_classes} classes (earlier "
                    f"{self.most_covered})", self.good_eval)
        self._observe(row)
        if self.window and len(self.wins) == self.window and sum(self.wins) >= WIN_SHARE * self.window:
            self.wins.clear()  # warn once per stretch
            return (f"the discriminator has won outright for {self.window * self.log_every} steps "
                    f"(accuracy >= {WIN_ACCURACY:g} on real and fake, D(G(z)) <= {WIN_D_FAKE:g})",
                    step - self.window * self.log_every)
        return None


def _d_wins(row: dict) -> bool:
    return (row["d_acc_real"] >= WIN_ACCURACY and row["d_acc_fake"] >= WIN_ACCURACY
            and row["d_fake"] <= WIN_D_FAKE)


def finite_weights(*modules: torch.nn.Module) -> bool:
    """Every floating parameter and buffer of the modules is finite."""
    for m in modules:
        for t in (*m.parameters(), *m.buffers()):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return False
    return True


def json_safe(row: dict) -> dict:
    """NaN and inf become null: metrics.jsonl stays strict JSON for other tools."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
