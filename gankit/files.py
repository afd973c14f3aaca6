"""One way to write a file so that a reader (or a crash) never sees half of it.

`atomic_path(path)` yields a temporary name in the same folder; when the block ends without an
error the temporary file is flushed to disk and renamed over `path` (an atomic step on POSIX),
and on any error it is removed and an OSError becomes a one-line UserError. Every file gankit
writes for later commands goes through here: checkpoints, config.json, metrics rewrites,
samples, grids and plots, the classifier cache.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Optional

from gankit.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

TEMP_MARK = ".tmp"  # every temporary name is ".<name>.<pid>.<random>.tmp"
RUST_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")  # what safetensors' writer names its temporary file


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_MARK}")


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic


def one_line(e: BaseException) -> str:
    """The reason of an I/O error on one line (safetensors wraps it as "... I/O error: why")."""
    why = e.strerror if isinstance(e, OSError) and e.strerror else str(e).split("I/O error: ")[-1]
    return " ".join(why.split()) or type(e).__name__


@contextmanager
def atomic_path(path: str | Path, errors: tuple[type[BaseException], ...] = (),
                hint: str = "check the folder's free space and permissions",
                durable: bool = False, what: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` when the block succeeds.

    errors: exception types besides OSError that mean "could not write" (e.g. SafetensorError).
    durable: fsync the file and its folder (checkpoints), so a power loss keeps the new file.
    what: what the file is, for the error ("checkpoint ").
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, *errors) as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"could not write {what}{path}: {one_line(e)}; {hint}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_json_atomic(path: str | Path, body) -> None:
    """body as indented strict JSON (NaN and infinities, which other tools refuse, as null)."""
    def strict(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: strict(x) for k, x in v.items()}
        return [strict(x) for x in v] if isinstance(v, (list, tuple)) else v
    write_text_atomic(path, json.dumps(strict(body), indent=2, allow_nan=False) + "\n")


def write_text_atomic(path: str | Path, text: str, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text)


def write_bytes_atomic(path: str | Path, data: bytes, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)


def remove_temps(folder: Path) -> None:
    """Temporary files of writes cut short by a crash (kill -9, power loss). Call only while
    holding the run's lock: then no other process is writing one."""
    for p in folder.glob(f".*{TEMP_MARK}*"):  # "*": also gankit 0.1's ".<name>.tmp<pid>"
        p.unlink(missing_ok=True)
    for p in folder.glob(".tmp*"):  # safetensors' own temporary file (".tmp" and 6 letters or digits)
        if RUST_TEMP.fullmatch(p.name):
            p.unlink(missing_ok=True)


class Busy(Exception):
    """Another process holds the lock; `pid` is what its lock file says."""

    def __init__(self, pid: str):
        super().__init__(pid)
        self.pid = pid


def hold_lock(path: Path) -> Optional[IO[str]]:
    """Take an exclusive flock on `path` (created if need be) without waiting, and write this
    process's pid into it. Returns the open file, which holds the lock until it is closed; None
    where there is no flock (Windows, some network mounts), so nothing is locked. Raises Busy
    where another process holds it, and OSError where the file cannot be opened.

    flock belongs to the open file: the kernel drops it when the process ends in any way, kill -9
    included, so a lock can never go stale (run folders' .lock, bench/collapse_runs.py's claims)."""
    if fcntl is None:
        return None
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        pid = f.read().strip() or "unknown"
        f.close()
        raise Busy(pid) from None
    except OSError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
