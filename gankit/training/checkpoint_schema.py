"""What a checkpoint must hold, checked before any of it is used.

The checksum says the bytes are the ones written; this says they are what the run's config.json
builds. `parse_meta` turns the JSON metadata into a `Meta` with every field typed and in range;
`check_tensors` holds the tensors against the networks, EMA copies, optimizers, extra state and
RNG states that the config builds: every one present with its dtype and shape, nothing else.
Anything else is one line, "checkpoint X: field Y is ... (expected ...)", and exit code 2.
`gankit sample`, `interpolate`, `eval`, `export` and `train --resume` all check the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.bounded import shown
from gankit.config import UPPER
from gankit.errors import UserError

MAX_STEP = UPPER["max_steps"][0]
FIX = "restore the checkpoint from a copy or start a new run"
STEP_SETTINGS = {"lr", "betas", "eps", "weight_decay", "momentum", "dampening", "nesterov", "alpha", "centered"}
KNOWN = {"format", "sha256", "gankit_version", "model", "algorithm", "step", "epoch", "pos", "elapsed",
         "config", "best_fid", "rollbacks", "world_size"}


@dataclass
class Meta:
    """A checkpoint's metadata, checked. optimizers: "opt_<name>" -> {"param_groups", "state_keys"}."""

    step: int
    epoch: int
    pos: int
    elapsed: float
    best_fid: Optional[float]
    rollbacks: int
    world_size: int
    model: Optional[str]
    version: str
    optimizers: dict[str, dict]


MISSING = object()  # a field that is not there


def _bad(where: str, field: str, value: Any, expected: str) -> UserError:
    what = "missing" if value is MISSING else shown(value)
    return UserError(f"checkpoint {where}: field {field} is {what} (expected {expected}); {FIX}")


def _int(meta: dict, where: str, key: str, low: int, high: int, default: Any = MISSING) -> int:
    v = meta.get(key, default)
    if type(v) is not int or not low <= v <= high:
        raise _bad(where, key, v, f"an integer {low}..{high:,}")
    return v


def _number(where: str, key: str, v: Any, positive: bool = False, high: float = 1e300) -> float:
    if type(v) not in (int, float) or not 0 <= v <= high or (positive and v <= 0):
        raise _bad(where, key, v, f"a number {'> 0' if positive else '>= 0'} and at most {high:g}")
    return float(v)


def parse_meta(meta: dict, where: str) -> Meta:
    """The metadata's fields, typed and in range (independent of the run)."""
    extra = [k for k in meta if k not in KNOWN and not k.startswith("opt_")]
    if extra:
        raise UserError(f"checkpoint {where}: unexpected field {shown(extra[0])} in its metadata; {FIX}")
    for key in ("gankit_version", "model", "algorithm"):
        if key in meta and not isinstance(meta[key], str):
            raise _bad(where, key, meta[key], "text")
    if "config" in meta and not isinstance(meta["config"], dict):
        raise _bad(where, "config", meta["config"], "a mapping of config keys")
    best = meta.get("best_fid")
    optimizers = {k: v for k, v in meta.items() if k.startswith("opt_")}
    for name, opt in optimizers.items():
        _optimizer_shape(opt, where, name)
    return Meta(
        step=_int(meta, where, "step", 0, MAX_STEP),
        epoch=_int(meta, where, "epoch", 0, MAX_STEP),
        pos=_int(meta, where, "pos", 0, MAX_STEP),
        elapsed=_number(where, "elapsed", meta.get("elapsed", MISSING), high=1e10),  # seconds: 300 years
        best_fid=None if best is None else _number(where, "best_fid", best, high=1e9),
        rollbacks=_int(meta, where, "rollbacks", 0, UPPER["max_rollbacks"][0], default=0),
        world_size=_int(meta, where, "world_size", 1, 1_000_000, default=1),
        model=meta.get("model"),
        version=str(meta.get("gankit_version", "0.1.0")),
        optimizers=optimizers,
    )


def _optimizer_shape(opt: Any, where: str, name: str) -> None:
    if not isinstance(opt, dict) or set(opt) != {"param_groups", "state_keys"}:
        raise _bad(where, name, opt, "a mapping of param_groups and state_keys")
    if not isinstance(opt["param_groups"], list) or not all(isinstance(g, dict) for g in opt["param_groups"]):
        raise _bad(where, f"{name}.param_groups", opt["param_groups"], "a list of mappings")
    keys = opt["state_keys"]
    if not isinstance(keys, dict) or not all(isinstance(v, list) and all(isinstance(s, str) for s in v)
                                             and len(set(v)) == len(v) for v in keys.values()):
        raise _bad(where, f"{name}.state_keys", keys, "a mapping of parameter index to state names")


def check_optimizer(name: str, saved: dict, opt: torch.optim.Optimizer, where: str) -> None:
    """The saved param groups against those of the optimizer the config builds: as many groups,
    the same parameters, every setting of the built one's kind (numbers finite, lr > 0)."""
    groups = saved["param_groups"]
    built = opt.state_dict()["param_groups"]
    if len(groups) != len(built):
        raise UserError(f"checkpoint {where}: field {name}.param_groups has {len(groups)} groups (expected "
                        f"{len(built)}, as config.json builds); {FIX}")
    for i, (g, b) in enumerate(zip(groups, built)):
        field = f"{name}.param_groups[{i}]"
        if g.get("params") != b["params"]:
            raise _bad(where, f"{field}.params", g.get("params"), f"parameters {b['params'][0]}..{b['params'][-1]}")
        unknown = [k for k in g if k not in b]
        if unknown:
            raise UserError(f"checkpoint {where}: unexpected setting {shown(unknown[0])} in {field}; {FIX}")
        missing = [k for k in b if k in STEP_SETTINGS and k not in g]
        if missing:
            raise UserError(f"checkpoint {where}: setting {missing[0]} is missing from {field}; {FIX}")
        _number(where, f"{field}.lr", g.get("lr"), positive=True, high=UPPER["lr_d"][0])
        for key, value in g.items():
            if key != "params":
                _setting(where, f"{field}.{key}", value, b[key])
    params = built[0]["params"] if built else []
    names = sorted(state_names(opt))
    for idx, saved_names in saved["state_keys"].items():
        if not idx.isdigit() or int(idx) not in {p for b in built for p in b["params"]}:
            raise _bad(where, f"{name}.state_keys", idx, f"parameter indices {params[0]}..{params[-1]}" if params else "none")
        if sorted(saved_names) != names:
            raise _bad(where, f"{name}.state_keys[{idx}]", saved_names, f"{names}, the state {type(opt).__name__} keeps")


def state_names(opt: torch.optim.Optimizer) -> set[str]:
    """The per-parameter state an optimizer of this kind and these settings keeps (one step of a
    copy of it on a one-number parameter)."""
    p = torch.nn.Parameter(torch.zeros(1))
    probe = type(opt)([p], **opt.defaults)
    p.grad = torch.zeros(1)
    probe.step()
    return set(probe.state[p])


def _setting(where: str, field: str, value: Any, like: Any) -> None:
    """One optimizer setting against the built optimizer's value of it."""
    if isinstance(like, bool) or like is None:
        ok = value is None or isinstance(value, bool)
        expected = "true, false or null"
    elif isinstance(like, (int, float)):
        ok = type(value) in (int, float) and math.isfinite(value) and value >= 0
        expected = "a finite number >= 0"
    elif isinstance(like, (list, tuple)):
        top = 1 if field.endswith("betas") else math.inf  # Adam's betas are fractions
        ok = (isinstance(value, list) and len(value) == len(like)
              and all(type(v) in (int, float) and 0 <= v < top for v in value))
        expected = f"{len(like)} numbers in [0, {top:g})"
    else:
        ok, expected = isinstance(value, type(like)), type(like).__name__
    if not ok:
        raise _bad(where, field, value, expected)


def expected_tensors(algo, cfg, opts: dict[str, torch.optim.Optimizer], meta: Meta,
                     gen_shape: Optional[tuple] = None) -> dict[str, tuple[Optional[torch.dtype], Optional[tuple]]]:
    """name -> (dtype, shape) of every tensor the checkpoint of this run must hold (None: any)."""
    want: dict[str, tuple[Optional[torch.dtype], Optional[tuple]]] = {}
    for name, net in algo.networks.items():
        for k, v in net.state_dict().items():
            want[f"{name}.{k}"] = (v.dtype, tuple(v.shape))
            if cfg.ema > 0 and name in algo.ema:
                want[f"{name}_ema.{k}"] = (v.dtype, tuple(v.shape))
    for k, v in algo.extra_state().items():
        want[f"extra.{k}"] = (v.dtype, tuple(v.shape))
    for name, opt in opts.items():
        params = [p for g in opt.param_groups for p in g["params"]]
        for idx, names in meta.optimizers.get(f"opt_{name}", {}).get("state_keys", {}).items():
            for state in names:
                p = params[int(idx)] if idx.isdigit() and int(idx) < len(params) else None
                if state == "step":  # a float32 scalar (torch's scalar dtype) beside every parameter
                    want[f"opt_{name}.{idx}.{state}"] = (torch.float32, ())
                else:  # moments: the parameter's dtype and shape
                    want[f"opt_{name}.{idx}.{state}"] = (None if p is None else p.dtype, None if p is None else tuple(p.shape))
    rng = tuple(torch.get_rng_state().shape)
    for prefix in [""] + [f"rank{r}." for r in range(1, meta.world_size)]:
        want[prefix + "rng.torch"] = (torch.uint8, rng)
        want[prefix + "rng.gen"] = (torch.uint8, gen_shape)
    return want


def built_optimizers(algo, cfg) -> dict[str, torch.optim.Optimizer]:
    """The optimizers the config builds for `algo`, without state (for commands that do not train)."""
    from gankit.training.optim import make_optimizer

    return {name: make_optimizer(cfg, [p for n in s.networks for p in algo.networks[n].parameters()],
                                 getattr(cfg, s.lr_key))
            for name, s in algo.optimizers().items()}


def check(tensors: dict[str, torch.Tensor], raw: dict, algo, cfg, opts: dict[str, torch.optim.Optimizer],
          where: str, gen_shape: Optional[tuple] = None) -> Meta:
    """The whole checkpoint against the run that config.json builds; its Meta when it fits.
    opts: the optimizers the config builds (their state empty); gen_shape: the shape of the
    run's noise generator state (None: any, for commands that do not train)."""
    meta = parse_meta(raw, where)
    try:
        if meta.model is not None and meta.model != cfg.model:
            raise UserError(f"checkpoint {where} is of model {shown(meta.model)} but config.json says "
                            f"{cfg.model}; {FIX}")
        for name in opts:
            if f"opt_{name}" not in meta.optimizers:
                raise UserError(f"checkpoint {where}: field opt_{name} is missing (config.json builds "
                                f"optimizer {name}); {FIX}")
            check_optimizer(f"opt_{name}", meta.optimizers[f"opt_{name}"], opts[name], where)
        extra = [k for k in meta.optimizers if k[4:] not in opts]
        if extra:
            raise UserError(f"checkpoint {where}: unexpected field {shown(extra[0])} (config.json builds "
                            f"no such optimizer); {FIX}")
        check_tensors(tensors, expected_tensors(algo, cfg, opts, meta, gen_shape), where)
    except UserError as e:
        from gankit import __version__

        if meta.version == __version__:
            raise
        raise UserError(str(e).replace(FIX, f"it was written by gankit {meta.version} and this is "
                                       f"{__version__}: use gankit {meta.version}, or train a new run")) from None
    return meta


def check_tensors(tensors: dict[str, torch.Tensor], want: dict, where: str) -> None:
    """Every wanted tensor present with its dtype and shape, and nothing else."""
    for key in sorted(want):
        if key not in tensors:
            raise UserError(f"checkpoint {where}: tensor {key} is missing (config.json builds it); {FIX}")
        dtype, shape = want[key]
        t = tensors[key]
        ok = (dtype is None or t.dtype == dtype) and (shape is None or tuple(t.shape) == shape)
        ok = ok and (shape is not None or t.dim() == 1) and dtype is not None
        expected = f"{str(dtype).replace('torch.', '')} {shape if shape is not None else '(any length,)'}"
        if not ok:
            raise UserError(f"checkpoint {where}: tensor {key} is {str(t.dtype).replace('torch.', '')} "
                            f"{tuple(t.shape)} (expected {expected}); {FIX}")
    stats = {}
    for key in tensors:
        if key in want:
            continue
        base = key.split(".", 1)[1] if key.startswith("rank") and "." in key else key
        if base == "rng.cuda" and tensors[key].dtype == torch.uint8 and tensors[key].dim() == 1:
            continue
        if base.startswith("stats.") and tensors[key].dtype == torch.float32 and tensors[key].dim() == 0:
            stats.setdefault(key[:len(key) - len(base)], set()).add(base[6:])
            continue
        raise UserError(f"checkpoint {where}: unexpected tensor {key} (config.json does not build it); {FIX}")
    for prefix, names in stats.items():
        for n in names:
            pair = n[3:] if n.startswith("_c_") else f"_c_{n}"
            if pair not in names:
                raise UserError(f"checkpoint {where}: tensor {prefix}stats.{n} has no {prefix}stats.{pair}; {FIX}")
