"""Checkpoints: tensors in one safetensors file, everything else as JSON in its metadata.

One file per checkpoint, written to a temporary name, flushed to disk and renamed, so a crash
leaves either the old file or the new one, never half of one. Nothing is unpickled on load:
safetensors holds only tensors, the JSON only data.

Layout: tensors "G.<name>", "D.<name>", "G_ema.<name>", "opt_d.<param index>.<state key>",
"opt_g.…", "rng.<name>" (uint8 RNG states); metadata "gankit" = JSON with step, epoch, the
optimizers' param_groups, the config and a SHA-256 of the tensor bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gankit.errors import UserError

FORMAT = "gankit-checkpoint/1"


def _digest(tensors: dict[str, torch.Tensor]) -> str:
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
    """Write atomically: temp file in the same folder, fsync, rename, fsync the folder."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = dict(meta, format=FORMAT, sha256=_digest(tensors))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata={"gankit": json.dumps(meta)})
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"could not write checkpoint {path}: {e.strerror or e}; free disk space or choose "
            "another --out (the previous checkpoint is intact)"
        ) from None
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify a checkpoint; a UserError for anything missing, corrupt or foreign."""
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; is this a gankit run folder that has trained?")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("gankit")
        meta = json.loads(raw) if raw else None
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {path} is corrupt ({str(e).splitlines()[0][:80]}); "
                        "restore it or start a new run") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a gankit checkpoint")
    if meta.get("sha256") != _digest(tensors):
        raise UserError(f"checkpoint {path} fails its checksum (corrupted on disk); "
                        "restore it or start a new run")
    return tensors, meta


def module_tensors(prefix: str, module: torch.nn.Module, out: dict[str, torch.Tensor]) -> None:
    for k, v in module.state_dict().items():
        out[f"{prefix}.{k}"] = v


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    n = len(prefix) + 1
    sd = {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise UserError(f"checkpoint does not fit the {prefix} network built from config.json "
                        f"({str(e).splitlines()[0][:100]}); was config.json edited?") from None
