"""The run folder: everything a later command needs, readable without gankit.

    RUN/config.json            {"config": TrainConfig, "data": DataInfo, "gankit_version": ...}
    RUN/log.txt                human-readable log lines
    RUN/metrics.jsonl          one JSON object per logging interval
    RUN/samples/epoch_NNNN.png a fixed latent (and label) grid after each epoch; final.png at the end
    RUN/losses.png             training curves
    RUN/checkpoints/last.safetensors
    RUN/checkpoints/step_NNNNNNNN.safetensors   the newest `keep` periodic checkpoints
    RUN/tensorboard/           with `tensorboard`: the metrics rows and grids as TensorBoard events
    RUN/.lock                  held (flock) by the process training in the folder; holds its pid
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
from gankit.files import remove_temps, write_text_atomic

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not locked
    fcntl = None


_HELD: dict[Path, Any] = {}  # run folder -> its open .lock file, while this process holds it


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
    tensorboard_dir = property(lambda self: self.path / "tensorboard")

    def checkpoint(self, which: str = "last") -> Path:
        return self.checkpoint_dir / f"{which}.safetensors"

    # --- creation and opening
    @classmethod
    def create(cls, path: str | Path, cfg: TrainConfig, data: DataInfo) -> "RunFolder":
        """A new run folder with its config.json; refuses to reuse a folder that has contents."""
        run = cls(path)
        # a lone .lock is what a crash between mkdir and config.json leaves: still an empty run
        if run.path.exists() and (not run.path.is_dir() or any(p.name != ".lock" for p in run.path.iterdir())):
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
        run.lock()
        run.write_config(cfg, data)
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        run = cls(path)
        if not run.config_path.is_file():
            raise UserError(f"{run.path} is not a gankit run folder (no config.json); "
                            "pass the folder that `gankit train` wrote")
        return run

    # --- one writer at a time
    def lock(self) -> None:
        """Hold RUN/.lock for as long as this process trains here; another process is refused.

        flock belongs to the open file: the kernel drops it when the process ends in any way,
        kill -9 included, so a lock can never go stale. The file keeps the holder's pid for the
        message. Within one process the lock is shared (a retry after an error is no second
        writer). A filesystem without flock (some network mounts) gets no lock rather than no run.
        """
        key = self.path.resolve()
        if key in _HELD or fcntl is None:
            return
        try:
            f = open(self.path / ".lock", "a+")
        except OSError as e:
            raise UserError(f"cannot write in run folder {self.path}: {e.strerror or e}; "
                            "check its permissions") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "unknown"
            f.close()
            raise UserError(f"another gankit process (pid {pid}) is using {self.path}; wait for it "
                            "to finish or stop it, or train into another --out") from None
        except OSError:
            f.close()
            return
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        _HELD[key] = f

    def unlock(self) -> None:
        f = _HELD.pop(self.path.resolve(), None)
        if f is not None:
            f.close()  # closing the file releases the flock

    def remove_stale_temps(self) -> None:
        """Temp files of writes cut short by a crash; safe only while holding the lock."""
        for folder in (self.path, self.checkpoint_dir, self.samples_dir):
            remove_temps(folder)

    def write_config(self, cfg: TrainConfig, data: DataInfo) -> None:
        body = {"config": cfg.to_dict(), "data": data.__dict__, "gankit_version": __version__}
        body.update(self._notes())  # what write_notes added (the preset) stays
        write_text_atomic(self.config_path, json.dumps(body, indent=2) + "\n")

    def write_notes(self, notes: dict[str, Any]) -> None:
        """Add top-level sections to config.json beside the config (the preset a run used and what
        gankit's defaults change on top of the paper's); a later write_config keeps them."""
        body = json.loads(self.config_path.read_text())
        body.update(notes)
        write_text_atomic(self.config_path, json.dumps(body, indent=2) + "\n")

    def _notes(self) -> dict[str, Any]:
        try:
            body = json.loads(self.config_path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(body, dict):
            return {}
        return {k: v for k, v in body.items() if k not in ("config", "data", "gankit_version")}

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
        _append(self.log_path, f"{stamp}  {line}\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        _append(self.metrics_path, json.dumps(row) + "\n")

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


def _append(path: Path, text: str) -> None:
    try:
        with open(path, "a") as f:
            f.write(text)
    except OSError as e:
        raise UserError(f"could not write {path}: {e.strerror or e}; check the folder's space and "
                        "permissions (the last checkpoint is intact)") from None


def default_out(model: str, dataset: str, root: str | Path = "runs") -> Path:
    """runs/<model>-<dataset>-NNN, the first number not taken."""
    root = Path(root)
    for i in range(1, 10_000):
        p = root / f"{model}-{dataset}-{i:03d}"
        if not p.exists():
            return p
    raise UserError(f"too many runs under {root}; pass --out")
