"""TensorBoard event files in RUN/tensorboard/ (`--tensorboard`, config key `tensorboard`).

The run manager hands the board what it has just written: every metrics.jsonl row (each numeric
field a scalar at the row's step, tagged by the row's kind: `train/d_loss`, `train/img_per_s`,
`eval/fid`, `rollback/lr_g`) and every sample grid PNG (`samples`, read back from the file).
Nothing here computes, samples or draws random numbers, so a run trains the same with it on or off.

Resume and rollback continue the step axis: a new writer (a new event file in the same folder)
starts with purge_step = the checkpoint's step + 1, which tells TensorBoard to drop what the
earlier files logged after that step, as metrics.jsonl drops those rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from gankit.errors import UserError


def writer_class() -> Any:
    """torch.utils.tensorboard.SummaryWriter, or a one-line UserError when tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--tensorboard (config key tensorboard) needs the tensorboard package: "
                        "pip install tensorboard") from None
    return SummaryWriter


def check(cfg) -> None:
    """Fail before anything is written when the config asks for TensorBoard and it is missing."""
    if cfg.tensorboard:
        writer_class()


class Board:
    """Writes to `folder`; with folder None (tensorboard off, or a rank > 0) it writes nothing."""

    def __init__(self, folder: Optional[Path]):
        self.folder = folder
        self.writer = None
        self.image_step: Optional[int] = None  # final.png repeats the last epoch's grid at its step

    def start(self, step: int) -> None:
        """A new event file whose log continues after `step` (later steps of older files are dropped)."""
        self.close()
        if self.folder is not None:
            self.writer = writer_class()(str(self.folder), purge_step=step + 1)
            self.image_step = None

    def row(self, row: dict) -> None:
        """Every numeric field of a metrics row but the step, at the row's step."""
        if self.writer is None:
            return
        kind = "eval" if row.get("eval") else row.get("event", "train")
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{kind}/{key}", value, row["step"])

    def image(self, path: Path, step: int) -> None:
        """The grid PNG just written at `path` (an image grid, or the scatter plot of 2-D data)."""
        if self.writer is None or step == self.image_step:
            return
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        self.writer.add_image("samples", pixels, step, dataformats="HWC")
        self.image_step = step

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
