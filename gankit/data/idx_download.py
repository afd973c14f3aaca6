"""Downloading an IDX dataset's missing .gz files from its mirrors, verified before use.

A file is fetched under a temporary name and gets its real name only once the MD5 of its
uncompressed content matches the dataset's, so an interrupted or wrong download never looks like
a good file. Offline, every mirror fails and the UserError says to pass --data-dir instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from gankit import paths
from gankit.data.idx import find_idx, read_idx_bytes
from gankit.errors import UserError

if TYPE_CHECKING:  # idx_dataset imports this module
    from gankit.data.idx_dataset import IdxDataset

DOWNLOAD_TIMEOUT_S = 30.0


def _download_one(ds: "IdxDataset", stem: str, dest: Path) -> None:
    """Fetch <stem>.gz into the folder `dest`, trying each mirror; verified before it is renamed."""
    errors = []
    for base in ds.mirrors:
        url = base + stem + ".gz"
        tmp = dest / f".{stem}.gz.part{os.getpid()}"
        try:
            print(f"downloading {url}", file=sys.stderr)
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(tmp, "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
            try:
                digest = hashlib.md5(read_idx_bytes(tmp)).hexdigest()
            except UserError as e:
                digest = f"unreadable ({e})"
            if digest != ds.md5.get(stem):  # no known MD5: nothing can be verified
                errors.append(f"{url}: checksum mismatch")
                continue
            os.replace(tmp, dest / (stem + ".gz"))  # only verified files get the real name
            return
        # URLError and HTTPError are OSErrors, as are timeouts; ValueError: a malformed URL
        except (OSError, ValueError, http.client.HTTPException) as e:
            errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
        finally:
            tmp.unlink(missing_ok=True)
    raise UserError(
        f"could not download {ds.title} ({'; '.join(errors)}): no network? put the IDX files in a"
        f" folder and pass --data-dir DIR"
    )


def download(ds: "IdxDataset", dest: Optional[Path] = None) -> Path:
    """Download the .gz files of `ds` (every split) that the folder `dest` lacks; return `dest`.

    dest: default the user cache `paths.data_cache_dir(ds.name)`. Needs `ds.mirrors`.
    """
    if not ds.mirrors:
        raise UserError(f"{ds.title} has no public download; put its IDX files in a folder and pass --data-dir DIR")
    dest = dest or paths.data_cache_dir(ds.name)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {dest} for the {ds.title} download: {e.strerror or e}") from None
    for stems in ds.files.values():
        for stem in stems:
            if find_idx(dest, stem) is None:
                _download_one(ds, stem, dest)
    return dest
