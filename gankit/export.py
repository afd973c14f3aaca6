"""A trained generator as one file for use outside gankit (ONNX or TorchScript), and a JSON sidecar.

    gankit export RUN                        RUN/G.onnx and RUN/G.onnx.json
    gankit export RUN --format torchscript   RUN/G.torchscript.pt and RUN/G.torchscript.pt.json

The file computes what `Algorithm.generate` computes, in float32: latents z (N, Z) [+ labels int64
(N,) for conditional models] -> model-range samples, images (N, C, H, W) in [-1, 1] (or points
(N, D)): what `gankit sample` draws before its uint8 conversion round((x + 1) * 127.5). So the
vae's graph ends in its mean image 2 sigmoid(logits) - 1, the autoencoder's begins with the
Gaussian fitted to its codes, a self-conditioned G draws its cluster from z, and InfoGAN's z
carries its codes (the sidecar names the columns of each part). The batch size is free.

ONNX: torch.export, then torch.onnx's exporter (dynamo=True; it needs onnx and onnxscript), at
opset 18. The self-conditioned G uses two operations ONNX lacks (erfinv, searchsorted); they are
rewritten into operations it has before the translation. TorchScript: torch.jit.trace. Either file
is written under a temporary name and renamed, so a failed export leaves nothing behind.
docs/export.md has the contract and examples.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch
from torch import Tensor, nn

from gankit.errors import UserError
from gankit.files import atomic_path, write_text_atomic

FORMATS = {"onnx": "G.onnx", "torchscript": "G.torchscript.pt"}  # format -> default file in the run folder
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}  # what the file of each format is named *
OPSET = 18
EXAMPLE_BATCH = 2  # the batch traced; torch.export would take a batch of 0 or 1 as a fixed size
TO_UINT8 = "round((clip(x, -1, 1) + 1) * 127.5)"


class Generator(nn.Module):
    """A copy of the run's sampling network behind `algo.generate`: z [+ labels] -> float32 samples."""

    def __init__(self, model):
        super().__init__()
        self.algo, self.name = model.algo, model.algo.sampler
        # registered, so its weights are the file's; frozen, so what it returns needs no grad
        self.net = copy.deepcopy(model.nets[self.name]).cpu().float().eval().requires_grad_(False)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.algo.generate({self.name: self.net}, z, labels).float()


def require(fmt: str) -> None:
    """A one-line error for an unknown format, or for ONNX without its packages."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError:
            raise UserError("ONNX export needs the onnx and onnxscript packages: pip install onnx onnxscript "
                            "(or pip install 'gankit[export]', which adds onnxruntime to run the file)") from None


def default_out(run: Path, fmt: str) -> Path:
    return Path(run) / FORMATS[fmt]


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def export(model, fmt: str, out: Path) -> dict:
    """Write the generator of `model` (a gankit.api.Model, its weights as loaded) to `out` in `fmt`
    ("onnx" or "torchscript") and the description of its inputs and output to `out`.json, which
    it returns."""
    require(fmt)
    out = Path(out)
    gen = Generator(model)
    z = model.algo.latents(EXAMPLE_BATCH, torch.Generator().manual_seed(0))
    args = (z, torch.arange(EXAMPLE_BATCH) % model.num_classes) if model.conditional else (z,)
    with torch.no_grad():
        # once eagerly first: what an algorithm computes once and keeps (the autoencoder's
        # Gaussian) is then a constant of the graph rather than operations in it
        x = gen(*args)
    output = "images" if model.info.kind == "image" else "points"
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            _onnx(gen, args, output, tmp, model.cfg.model)
        else:
            _torchscript(gen, args, tmp)
    info = describe(model, fmt, out, output, list(x.shape[1:]))
    write_text_atomic(sidecar_path(out), json.dumps(info, indent=2) + "\n")
    return info


def _torchscript(gen: Generator, args: tuple, path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates torch.jit (docs/export.md)
        traced = torch.jit.trace(gen, args, check_trace=False)
        torch.jit.save(traced, str(path))


def _onnx(gen: Generator, args: tuple, output: str, path: Path, model_name: str) -> None:
    batch = torch.export.Dim("batch", min=1)
    try:
        with torch.no_grad(), warnings.catch_warnings(), _quiet("torch.onnx", "torch.export", "torch._export"):
            warnings.simplefilter("ignore")  # deprecations inside torch.onnx: not the user's to act on
            program = torch.export.export(gen, args, dynamic_shapes=tuple({0: batch} for _ in args), strict=False)
            program = program.run_decompositions(_decompositions())
            torch.onnx.export(program, f=str(path), input_names=["z", "labels"][:len(args)], output_names=[output],
                              opset_version=OPSET, dynamo=True, external_data=False, verbose=False)
    except (OSError, UserError):
        raise
    except Exception as e:  # the exporter's own failure, said in one line
        why = " ".join(str(e).split("\n")[0].split())[:300]
        raise UserError(f"torch.onnx could not export {model_name}'s generator ({type(e).__name__}: {why}); "
                        "--format torchscript may work") from None


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """The named loggers at ERROR for the block (torch.onnx warns that torchvision is missing)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# --- two operations of the self-conditioned G's split that ONNX lacks, in operations it has
def _decompositions() -> dict:
    table = torch.export.default_decompositions()
    table[torch.ops.aten.erfinv.default] = _erfinv
    table[torch.ops.aten.searchsorted.Tensor] = _searchsorted
    return table


_A = (0.886226899, -1.645349621, 0.914624893, -0.140543331)
_B = (-2.118377725, 1.442710462, -0.329097515, 0.012229801)
_C = (-1.970840454, -1.624906493, 3.429567803, 1.641345311)
_D = (3.543889200, 1.637067800)


def _erfinv(y: Tensor) -> Tensor:
    """erfinv the way PyTorch computes it on the CPU (a rational approximation, one for |y| <= 0.7
    and one for the tails, then two Newton steps), but in y's dtype (onnxruntime's Erf is float32
    only). In float32 within 2e-5 of torch.erfinv for |y| <= 1 - 2e-6, the range the
    self-conditioned G asks for; coarser closer to +-1, and finite (about +-9.2) at +-1."""
    a, yy = y.abs(), y * y
    central = y * (((_A[3] * yy + _A[2]) * yy + _A[1]) * yy + _A[0]) \
        / ((((_B[3] * yy + _B[2]) * yy + _B[1]) * yy + _B[0]) * yy + 1.0)
    t = torch.sqrt(-torch.log(((1.0 - a) / 2.0).clamp_min(torch.finfo(y.dtype).tiny)))
    tail = torch.sign(y) * (((_C[3] * t + _C[2]) * t + _C[1]) * t + _C[0]) / ((_D[1] * t + _D[0]) * t + 1.0)
    x = torch.where(a <= 0.7, central, tail)
    for _ in range(2):
        x = x - (torch.erf(x) - y) / ((2.0 / math.sqrt(math.pi)) * torch.exp(-x * x))
    return x


def _searchsorted(sorted_sequence: Tensor, values: Tensor, *, out_int32: bool = False, right: bool = False,
                  side: Optional[str] = None, sorter: Optional[Tensor] = None) -> Tensor:
    """searchsorted into one sorted 1-D sequence: how many of its entries lie below each value (at
    or below it, with right=True)."""
    if sorted_sequence.dim() != 1 or sorter is not None:
        raise NotImplementedError("searchsorted into more than one sequence, or with a sorter")
    v = values.unsqueeze(-1)
    n = ((sorted_sequence <= v) if right or side == "right" else (sorted_sequence < v)).sum(-1)
    return n.to(torch.int32 if out_int32 else torch.int64)


# --- the sidecar
def describe(model, fmt: str, out: Path, output: str, item_shape: list[int]) -> dict:
    """What someone outside gankit needs to run the file: its inputs, its output, where it came from."""
    from gankit import __version__

    cfg, info = model.cfg, model.info
    parts, start = model.algo.latent_parts(), 0
    for p in parts:  # z[:, start:stop] holds the part
        p["columns"] = [start, start + p["size"]]
        start += p["size"]
    inputs = [{"name": "z", "dtype": "float32", "shape": ["batch", start], "parts": parts}]
    if model.conditional:
        inputs.append({"name": "labels", "dtype": "int64", "shape": ["batch"],
                       "values": f"class numbers 0..{info.num_classes - 1}", "classes": list(info.class_names)})
    out_info = {"name": output, "dtype": "float32", "shape": ["batch", *item_shape]}
    if output == "images":
        out_info.update(layout="NCHW", range=[-1.0, 1.0], to_uint8=TO_UINT8,
                        meaning="images in the model's range: what gankit sample draws before converting them to uint8")
    else:
        out_info.update(layout="ND", range=None, meaning="points in the training data's coordinates")
    names = [i["name"] for i in inputs]
    call = ("onnxruntime.InferenceSession(path).run(None, {" + ", ".join(f'"{n}": {n}' for n in names) + "})[0]"
            if fmt == "onnx" else f"torch.jit.load(path)({', '.join(names)})")
    return {"format": fmt, "file": out.name, "model": cfg.model, "dataset": cfg.dataset,
            "checkpoint": model.meta["checkpoint"], "step": model.meta.get("step"),
            "weights": "EMA" if model.meta["ema"] else "raw",
            "z_dim": start, "inputs": inputs, "output": out_info, "call": call,
            **({"opset": OPSET} if fmt == "onnx" else {}),
            "gankit_version": __version__, "torch_version": torch.__version__}
