"""The progress bar: losses, img/s and ETA on a terminal; plain log lines when not a terminal."""

from __future__ import annotations

import math
import sys

from tqdm import tqdm


class Progress:
    def __init__(self, budget, step: int, iters_per_epoch: float, shown: bool = True):
        """shown=False (ranks > 0 under torchrun): no bar and no lines."""
        total = None if math.isinf(budget.epochs) else int(budget.epochs * iters_per_epoch)
        if budget.max_steps is not None:
            total = budget.max_steps if total is None else min(total, budget.max_steps)
        self.tty = sys.stderr.isatty() and shown
        self.shown = shown
        self.bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True,
                        disable=not self.tty, leave=True)
        self.minutes = budget.minutes

    def update(self, step: int, row: dict) -> None:
        shown = {k: row[k] for k in ("d_loss", "g_loss", "d_real", "d_fake") if k in row}
        text = " ".join(f"{k}={v:.3f}" for k, v in shown.items())
        text += f" {row['img_per_s']:.0f} img/s epoch {row['epoch']:.2f}"
        if "s_per_epoch" in row:
            text += f" ({row['s_per_epoch']:.1f} s/epoch)"
        if self.minutes:  # the bar's own ETA counts steps; a time budget ends sooner or later
            left = max(0.0, self.minutes * 60 - row["time_s"])
            text += f" {int(left // 60)}:{int(left % 60):02d} left"
        if not self.shown:
            return
        if self.tty:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(step - self.bar.n)
        else:
            print(f"step {step} {text}", flush=True)

    def close(self) -> None:
        self.bar.close()
