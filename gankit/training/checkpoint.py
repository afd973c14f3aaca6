"""Checkpoints: tensors in one safetensors file, everything else as JSON in its metadata.

One file per checkpoint, written to a temporary name, flushed to disk and renamed, so a crash
leaves either the old file or the new one, never half of one. Nothing is unpickled on load:
safetensors holds only tensors, the JSON only data.

Besides `last` (and `best`), `keep_step_copy` keeps step_NNNNNNNN.safetensors copies of periodic
checkpoints and prunes all but the newest K of them; only step_ files are ever pruned.

Layout: tensors "G.<name>", "D.<name>", "G_ema.<name>", "opt_d.<param index>.<state key>",
"opt_g.…", "rng.<name>" (uint8 RNG states); metadata "gankit" = JSON with step, epoch, the
optimizers' param_groups, the config and a SHA-256 of the tensor bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gankit.bounded import loads_json
from gankit.errors import UserError
from gankit.files import atomic_path, fsync_dir

FORMAT = "gankit-checkpoint/1"
MAX_META_BYTES = 16 * 2**20  # a checkpoint's JSON metadata (the config, optimizer groups): about 10 KiB
STEP_NAME = re.compile(r"step_(\d{8,})\.safetensors")


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the tensors by name (their bytes, dtypes and shapes): what a checkpoint records
    and checks on load, and what the benches print to tell two networks' weights apart."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, out: dict[str, torch.Tensor]) -> dict:
    """Put the optimizer's per-parameter tensors into `out`; return the JSON-able rest."""
    sd = opt.state_dict()
    keys: dict[str, list[str]] = {}
    for idx, state in sd["state"].items():
        keys[str(idx)] = []
        for name, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            out[f"{prefix}.{idx}.{name}"] = t.detach().cpu().contiguous()
            keys[str(idx)].append(name)
    return {"param_groups": sd["param_groups"], "state_keys": keys}


def unflatten_optimizer(prefix: str, meta: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {
        int(idx): {name: tensors[f"{prefix}.{idx}.{name}"] for name in names}
        for idx, names in meta["state_keys"].items()
    }
    return {"state": state, "param_groups": meta["param_groups"]}


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write atomically and durably (temp file, fsync, rename, fsync the folder)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = dict(meta, format=FORMAT, sha256=tensor_digest(tensors))
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors reports a full disk as SafetensorError("... I/O error: No space left ...")
    with atomic_path(path, errors=(SafetensorError,), durable=True, what="checkpoint ",
                     hint="free disk space or choose another --out (the previous checkpoint is intact)") as tmp:
        save_file(tensors, str(tmp), metadata={"gankit": json.dumps(meta)})


def step_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:08d}.safetensors"


def step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the step_NNNNNNNN checkpoints in `folder`, oldest first."""
    found = []
    for p in folder.glob("step_*.safetensors"):
        m = STEP_NAME.fullmatch(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def keep_step_copy(last: Path, step: int, keep: int) -> None:
    """Keep `last` (just written at `step`) as step_NNNNNNNN too, then prune to the newest `keep`.

    The copy is a hard link (no extra disk, and `last` is only ever replaced by a rename, never
    written in place, so the link keeps the old bytes) made under a temporary name and renamed, so
    a crash leaves a whole step file or none. Filesystems without hard links get a real copy.
    """
    if keep > 0:
        dst = step_path(last.parent, step)
        with atomic_path(dst, what="checkpoint ", hint="free disk space or choose another --out (the previous "
                         "checkpoints are intact)") as tmp:
            try:
                os.link(last, tmp)
            except OSError:
                shutil.copyfile(last, tmp)
    prune(last.parent, keep)
    fsync_dir(last.parent)


def prune(folder: Path, keep: int, newer_than: Optional[int] = None) -> None:
    """Delete step checkpoints: all but the newest `keep`, and with `newer_than`, every one after
    that step (a rollback abandons them). last and best never match step_*, so they stay."""
    steps = step_checkpoints(folder)
    doomed = steps[:max(0, len(steps) - keep)]
    if newer_than is not None:
        doomed += [(s, p) for s, p in steps if s > newer_than]
    for _, p in doomed:
        p.unlink(missing_ok=True)


def read_meta(path: Path) -> Optional[dict[str, Any]]:
    """The JSON state of a checkpoint without reading its tensors (None if unreadable); cheap, and
    unverified: load() checks the checksum."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = _parse_meta((f.metadata() or {}).get("gankit", "null"), path)
    except (SafetensorError, OSError, ValueError, UserError):
        return None
    if not isinstance(meta, dict) or type(meta.get("step")) is not int:
        return None
    return meta


def _parse_meta(raw: str, path: Path) -> Any:
    return loads_json(raw, f"checkpoint {path}'s metadata", "restore it or start a new run", MAX_META_BYTES)


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify a checkpoint; a UserError for anything missing, corrupt or foreign."""
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; is this a gankit run folder that has trained?")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("gankit")
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"checkpoint {path} is corrupt ({str(e).splitlines()[0][:80]}); "
                        "restore it or start a new run") from None
    meta = _parse_meta(raw, path) if raw else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a gankit checkpoint")
    if meta.get("sha256") != tensor_digest(tensors):
        raise UserError(f"checkpoint {path} fails its checksum (corrupted on disk); "
                        "restore it or start a new run")
    return tensors, meta


def module_tensors(prefix: str, module: torch.nn.Module, out: dict[str, torch.Tensor]) -> None:
    for k, v in module.state_dict().items():
        out[f"{prefix}.{k}"] = v.contiguous()  # channels_last weights are stored in NCHW order


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor],
                written_by: Optional[str] = None) -> None:
    """Load the tensors "<prefix>.*" into `module`, strictly: a missing or unexpected tensor is an
    error, never a freshly initialised layer."""
    n = len(prefix) + 1
    sd = {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise UserError(f"checkpoint does not fit the {prefix} network built from config.json "
                        f"({str(e).splitlines()[0][:100]}); {_edited_or_version(written_by)}") from None


def load_algorithm(algo, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                   emas: Optional[dict[str, torch.nn.Module]] = None, use_ema: bool = False) -> list[str]:
    """Load every network of `algo` and its extra state from a checkpoint's tensors.
    emas: name -> EMA copy to load from "<name>_ema.*" (training). use_ema: load the EMA weights
    into the networks themselves where the checkpoint has them (sampling). Returns the networks
    that got EMA weights."""
    by = written_by(meta)
    kept = [name for name in algo.ema if use_ema and any(k.startswith(f"{name}_ema.") for k in tensors)]
    for name, net in algo.networks.items():
        load_module(f"{name}_ema" if name in kept else name, net, tensors, by)
    for name, ema in (emas or {}).items():
        load_module(f"{name}_ema", ema, tensors, by)
    algo.load_extra_state({k[6:]: v for k, v in tensors.items() if k.startswith("extra.")})
    return kept


def load_optimizer(prefix: str, opt: torch.optim.Optimizer, meta: dict[str, Any],
                   tensors: dict[str, torch.Tensor], written_by: Optional[str] = None) -> None:
    """Restore optimizer `prefix` (its JSON in meta[prefix], its tensors "<prefix>.*")."""
    try:
        opt.load_state_dict(unflatten_optimizer(prefix, meta[prefix], tensors))
    except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as e:
        raise UserError(f"checkpoint's optimizer state {prefix} does not fit the optimizer built from "
                        f"config.json ({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}); "
                        f"{_edited_or_version(written_by)}") from None


def written_by(meta: dict[str, Any]) -> str:
    """The gankit version that wrote a checkpoint (0.1.0 recorded none)."""
    return str(meta.get("gankit_version", "0.1.0"))


def _edited_or_version(written_by: Optional[str]) -> str:
    from gankit import __version__

    if written_by and written_by != __version__:
        return (f"it was written by gankit {written_by} and this is {__version__}: sample it with "
                f"gankit {written_by}, or train a new run")
    return "was config.json edited?"
