"""The run folder: everything a later command needs, readable without gankit.

    RUN/config.json            {"config": TrainConfig, "data": DataInfo, "gankit_version": ...}
    RUN/log.txt                human-readable log lines
    RUN/metrics.jsonl          one JSON object per logging interval
    RUN/samples/epoch_NNNN.png a fixed latent (and label) grid after each epoch; final.png at the end
    RUN/losses.png             training curves
    RUN/checkpoints/last.safetensors
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gankit import __version__
from gankit.config import TrainConfig, from_dict
from gankit.data.base import DataInfo
from gankit.errors import UserError


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"could not write {path}: {e.strerror or e}; check the folder's space and permissions") from None


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # --- layout
    config_path = property(lambda self: self.path / "config.json")
    log_path = property(lambda self: self.path / "log.txt")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    samples_dir = property(lambda self: self.path / "samples")
    losses_png = property(lambda self: self.path / "losses.png")
    checkpoint_dir = property(lambda self: self.path / "checkpoints")

    def checkpoint(self, which: str = "last") -> Path:
        return self.checkpoint_dir / f"{which}.safetensors"

    # --- creation and opening
    @classmethod
    def create(cls, path: str | Path, cfg: TrainConfig, data: DataInfo) -> "RunFolder":
        """A new run folder with its config.json; refuses to reuse a folder that has contents."""
        run = cls(path)
        if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
            raise UserError(
                f"{run.path} already exists; continue it with `gankit train --resume {run.path}` "
                "or choose another --out"
            )
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            (run.samples_dir).mkdir(exist_ok=True)
            (run.checkpoint_dir).mkdir(exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create run folder {run.path}: {e.strerror or e}; choose another --out") from None
        run.write_config(cfg, data)
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        run = cls(path)
        if not run.config_path.is_file():
            raise UserError(f"{run.path} is not a gankit run folder (no config.json); "
                            "pass the folder that `gankit train` wrote")
        return run

    def write_config(self, cfg: TrainConfig, data: DataInfo) -> None:
        body = {"config": cfg.to_dict(), "data": data.__dict__, "gankit_version": __version__}
        write_text_atomic(self.config_path, json.dumps(body, indent=2) + "\n")

    def read_config(self) -> tuple[TrainConfig, DataInfo]:
        try:
            body = json.loads(self.config_path.read_text())
            cfg = from_dict(body["config"], str(self.config_path))
            data = DataInfo(**body["data"])
        except UserError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{self.config_path} is damaged ({type(e).__name__}); "
                            "restore it from a copy of the run") from None
        return cfg, data

    # --- logs
    def log(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a") as f:
            f.write(f"{stamp}  {line}\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut off by a crash
        return rows

    def truncate_metrics(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint's step (they will be logged again)."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))


def default_out(model: str, dataset: str, root: str | Path = "runs") -> Path:
    """runs/<model>-<dataset>-NNN, the first number not taken."""
    root = Path(root)
    for i in range(1, 10_000):
        p = root / f"{model}-{dataset}-{i:03d}"
        if not p.exists():
            return p
    raise UserError(f"too many runs under {root}; pass --out")
