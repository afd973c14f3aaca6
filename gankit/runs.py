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

import errno
import glob
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Optional

from gankit import __version__
from gankit.bounded import json_depth, loads_json, read_text, shown
from gankit.config import MAX_CONFIG_BYTES, UPPER, TrainConfig, from_dict
from gankit.data.base import DataInfo
from gankit.errors import UserError
from gankit.files import TEMP_MARK, Busy, fsync_dir, hold_lock, remove_temps, temp_name, write_text_atomic

MAX_STEP = UPPER["max_steps"][0]

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
    def create(cls, path: str | Path, cfg: TrainConfig, data: DataInfo,
               notes: Optional[dict[str, Any]] = None) -> "RunFolder":
        """A new run folder with its config.json (and `notes`, top-level sections beside the
        config: the preset a run used); refuses to reuse a folder that has contents.

        The folder is made under a temporary name beside it (".NAME.<pid>.<random>.tmp"), gets
        its lock, subfolders and config.json there, and is renamed into place: a kill at any
        instant leaves no run or a whole one that `--resume` continues, never a folder without
        config.json. Temporary folders of creations that were killed are removed here."""
        run = cls(path)
        taken = (f"{run.path} already exists; continue it with `gankit train --resume {run.path}` "
                 "or choose another --out")
        if run.path.exists() and not _unborn(run.path):
            raise UserError(taken)
        tmp = cls(temp_name(run.path))
        try:
            run.path.parent.mkdir(parents=True, exist_ok=True)
            _remove_dead_creations(run.path)
            tmp.path.mkdir()
            tmp.samples_dir.mkdir()
            tmp.checkpoint_dir.mkdir()
        except OSError as e:
            shutil.rmtree(tmp.path, ignore_errors=True)
            raise UserError(f"cannot create run folder {run.path}: {e.strerror or e}; choose another --out") from None
        try:
            tmp.lock()
            tmp.write_config(cfg, data, notes)
            if run.path.is_dir():  # what an earlier gankit's creation left when it was killed
                for p in run.path.iterdir():
                    p.rmdir() if p.is_dir() else p.unlink()
            os.rename(tmp.path, run.path)  # replaces an empty folder; refuses one with contents
        except BaseException as e:  # a full disk, another process that was quicker, Ctrl-C
            tmp.unlock()
            shutil.rmtree(tmp.path, ignore_errors=True)
            if not isinstance(e, OSError):
                raise
            raise UserError(taken if e.errno in (errno.ENOTEMPTY, errno.EEXIST)
                            else f"cannot create run folder {run.path}: {e.strerror or e}; choose another --out") from None
        held = _HELD.pop(tmp.path.resolve(), None)  # the lock file moved with its folder
        if held is not None:
            _HELD[run.path.resolve()] = held
        fsync_dir(run.path.parent)
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
        if key in _HELD:
            return
        try:
            f = hold_lock(self.path / ".lock")
        except Busy as e:
            raise UserError(f"another gankit process (pid {e.pid}) is using {self.path}; wait for it "
                            "to finish or stop it, or train into another --out") from None
        except OSError as e:
            raise UserError(f"cannot write in run folder {self.path}: {e.strerror or e}; "
                            "check its permissions") from None
        if f is not None:
            _HELD[key] = f

    def unlock(self) -> None:
        f = _HELD.pop(self.path.resolve(), None)
        if f is not None:
            f.close()  # closing the file releases the flock

    def remove_stale_temps(self) -> None:
        """Temp files of writes cut short by a crash; safe only while holding the lock."""
        for folder in (self.path, self.checkpoint_dir, self.samples_dir):
            remove_temps(folder)

    def write_config(self, cfg: TrainConfig, data: DataInfo, notes: Optional[dict[str, Any]] = None) -> None:
        """config.json; notes: top-level sections beside the config (None: keep the file's own)."""
        body = {"config": cfg.to_dict(), "data": data.__dict__, "gankit_version": __version__}
        body.update(self._notes() if notes is None else notes)
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
        """config.json, every field checked: a one-line UserError for anything else."""
        what, fix = str(self.config_path), "restore it from a copy of the run"
        body = loads_json(read_text(self.config_path, what, fix, MAX_CONFIG_BYTES), what, fix, MAX_CONFIG_BYTES)
        if not isinstance(body, dict) or not {"config", "data"} <= set(body):
            raise UserError(f"{what} is damaged (it must hold \"config\" and \"data\"); {fix}")
        return from_dict(body["config"], what), data_info(body["data"], what)

    # --- logs
    def log(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        _append(self.log_path, f"{stamp}  {line}\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        _append(self.metrics_path, json.dumps(row) + "\n")

    def append_row(self, name: str, row: dict[str, Any]) -> None:
        """One JSON row onto the run's file `name` (a .jsonl beside metrics.jsonl)."""
        _append(self.path / name, json.dumps(row) + "\n")

    def read_rows(self, name: str) -> list[dict[str, Any]]:
        """The rows of the run's .jsonl file `name`; a line cut off by a crash, or one no gankit
        row could be (over MAX_FILE_ROW_BYTES, nested deeper than a dict of lists), is skipped."""
        rows = []
        for line in _log_lines(self.path / name):
            if len(line) > MAX_FILE_ROW_BYTES or json_depth(line) > 2:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def read_metrics(self) -> list[dict[str, Any]]:
        """metrics.jsonl's rows, each checked (metrics_row); a line that is not JSON (one cut off
        by a crash) is skipped."""
        what = str(self.metrics_path)
        rows = []
        for i, line in enumerate(_log_lines(self.metrics_path), 1):
            if len(line) > MAX_ROW_BYTES or json_depth(line) > 2:
                raise UserError(f"{what} line {i} is not a metrics row (too long or nested); delete the line")
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut off by a crash
            rows.append(metrics_row(row, f"{what} line {i}"))
        return rows

    def truncate_metrics(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint's step (they will be logged again)."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))


MAX_ROW_BYTES = 2**16  # a metrics row is about 300 bytes
MAX_FILE_ROW_BYTES = 2**20  # a row of optimal_d.jsonl (four curves of 200 points) is about 20 kB
TEXT_FIELDS = ("divergence", "event")  # the only text in a metrics row; every other value is a number


def metrics_row(row: Any, where: str) -> dict[str, Any]:
    """A metrics.jsonl row, checked: a mapping with a step (an int, 0 or more) whose values are
    numbers, true/false or null (text under `divergence` and `event`)."""
    fix = "delete the line (training logs it again on resume)"
    if not isinstance(row, dict):
        raise UserError(f"{where} is not a metrics row (a JSON object); {fix}")
    step = row.get("step")
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        raise UserError(f"{where}: field step is {shown(step)} (expected an integer 0..{MAX_STEP:,}); {fix}")
    for k, v in row.items():
        ok = isinstance(v, str) and len(v) <= 1000 if k in TEXT_FIELDS else (v is None or isinstance(v, (int, float)))
        if not ok:
            kind = "text" if k in TEXT_FIELDS else "a number, true, false or null"
            raise UserError(f"{where}: field {shown(k)} is {shown(v)} (expected {kind}); {fix}")
    return row


def images_per_second(rows: list[dict[str, Any]]) -> float:
    """A run's training speed from its metrics rows: the training rows' images over their time
    (eval, rollback and event rows carry no img_per_s and are passed over). Each training row's
    rate covers the images since the training row before it, so its time is those images over its
    rate; a plain mean of the rates would overstate a run whose speed varied. NaN without any."""
    images = seconds = 0.0
    before = 0
    for row in rows:
        if "img_per_s" not in row:
            continue
        n = row["images"] - before
        before = row["images"]
        if n > 0 and row["img_per_s"] > 0:
            images += n
            seconds += n / row["img_per_s"]
    return images / seconds if seconds else float("nan")


def data_info(d: Any, where: str) -> DataInfo:
    """config.json's "data" (what the networks are built for), every field checked."""
    fix = "restore config.json from a copy of the run"

    def bad(field: str, value: Any, expected: str) -> UserError:
        return UserError(f"{where}: data field {field} is {shown(value)} (expected {expected}); {fix}")
    if not isinstance(d, dict) or set(d) - {"name", "kind", "shape", "num_classes", "class_names"}:
        raise UserError(f"{where}: \"data\" must be a mapping of name, kind, shape, num_classes, class_names; {fix}")
    kind, shape, k = d.get("kind"), d.get("shape"), d.get("num_classes", 0)
    names = d.get("class_names", [])
    if not isinstance(d.get("name"), str):
        raise bad("name", d.get("name"), "text")
    if kind not in ("image", "points"):
        raise bad("kind", kind, "image or points")
    sides = isinstance(shape, list) and all(type(n) is int and 1 <= n <= 4096 for n in shape)
    if not sides or len(shape) != (3 if kind == "image" else 1) or (kind == "image" and shape[0] not in (1, 3)):
        raise bad("shape", shape, "[C, H, W] for images, [D] for points, sides 1..4096")
    if type(k) is not int or not 0 <= k <= 100_000:
        raise bad("num_classes", k, "an integer 0..100,000")
    if not isinstance(names, list) or len(names) not in (0, k) or not all(isinstance(n, str) for n in names):
        raise bad("class_names", names, f"{k} names")
    return DataInfo(d["name"], kind, list(shape), k, list(names))


def _log_lines(path: Path) -> list[str]:
    """The lines of a log file the run appends to ([] before it exists); bytes that are not
    UTF-8 (a write cut short) are replaced, not fatal."""
    if not path.is_file():
        return []
    try:
        return path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}; check its permissions") from None


def _append(path: Path, text: str) -> None:
    """text at the end of the file, on a line of its own even after a line a crash cut short."""
    try:
        with open(path, "ab+") as f:
            if f.seek(0, os.SEEK_END):
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    text = "\n" + text
            f.write(text.encode())
    except OSError as e:
        raise UserError(f"could not write {path}: {e.strerror or e}; check the folder's space and "
                        "permissions (the last checkpoint is intact)") from None


def _unborn(path: Path) -> bool:
    """An empty folder, or what gankit 0.2 left when killed while creating a run there (a lock
    file, empty samples/ and checkpoints/, no config.json): a folder with no run in it."""
    if not path.is_dir():
        return False
    for p in path.iterdir():
        if not (p.name == ".lock" and p.is_file() or p.name in ("samples", "checkpoints") and p.is_dir()
                and not any(p.iterdir())):
            return False
    return True


def _remove_dead_creations(path: Path) -> None:
    """Temporary folders of `RunFolder.create` for `path` whose process is gone (killed)."""
    for p in path.parent.glob(f".{glob.escape(path.name)}.*{TEMP_MARK}"):
        try:
            pid = int(p.name[len(path.name) + 2:].split(".")[0])
            os.kill(pid, 0)  # raises if no such process
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, OSError):
            continue


def default_out(model: str, dataset: str, root: str | Path = "runs") -> Path:
    """runs/<model>-<dataset>-NNN, the first number not taken."""
    root = Path(root)
    for i in range(1, 10_000):
        p = root / f"{model}-{dataset}-{i:03d}"
        if not p.exists():
            return p
    raise UserError(f"too many runs under {root}; pass --out")
