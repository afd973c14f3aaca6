"""Vector arithmetic in latent space (Radford et al. 2015, section 6.3.2): the mean latent of one
group of samples, minus another's, plus a third's, generated.

A group is chosen from a pool of generated samples by a spec of comma-separated terms:
- `class=K` (a number, or a class name of the dataset): samples the domain classifier reads as K
  with probability at least 0.8, most confident first;
- at most one attribute measured on the image: `thick` / `thin` (the share of pixels above
  mid-grey: for one class, more ink is a thicker stroke), `slant=right` / `slant=left` (the
  shear of the ink from image moments, -mu11 / mu02).
With an attribute, the group is the `k` samples of the class (or of the pool) that have the most
of it. Radford et al. average three samples per group; the default here is eight.

Latents are split into what is continuous and what is a class: a conditional model's label and a
self-conditioned generator's cluster are one-hot vectors in the arithmetic, and the result's soft
vector (negative entries clipped, rescaled to sum 1) is given to G as a soft label, as class
interpolation does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from gankit.errors import UserError

ATTRIBUTES = ("thick", "thin", "slant=right", "slant=left")
MIN_CONFIDENCE = 0.8


@dataclass
class Spec:
    text: str
    klass: Optional[int]
    attribute: Optional[str]


def parse_spec(text: str, class_names: list[str], num_classes: int) -> Spec:
    """`class=7,thick` -> Spec(7, "thick"); a one-line error for anything else."""
    klass, attribute = None, None
    for term in filter(None, (t.strip().lower() for t in text.split(","))):
        if term.startswith("class="):
            value = term[len("class="):]
            names = [n.lower() for n in class_names]
            if value.isdigit() and int(value) < num_classes:
                klass = int(value)
            elif value in names:
                klass = names.index(value)
            else:
                shown = f"0..{num_classes - 1}" + (f" or one of {', '.join(class_names)}" if class_names else "")
                raise UserError(f"group {text!r}: class must be {shown}")
        elif term in ("left", "right"):
            term = f"slant={term}"
            attribute = _one(attribute, term, text)
        elif term in ATTRIBUTES:
            attribute = _one(attribute, term, text)
        else:
            raise UserError(f"group {text!r}: unknown term {term!r}; use class=K and at most one of "
                            f"{', '.join(ATTRIBUTES)}")
    if klass is None and attribute is None:
        raise UserError(f"group {text!r} is empty; give class=K and/or one of {', '.join(ATTRIBUTES)}")
    return Spec(text, klass, attribute)


def _one(old: Optional[str], new: str, text: str) -> str:
    if old is not None:
        raise UserError(f"group {text!r}: one attribute per group ({old} and {new})")
    return new


def ink(x: torch.Tensor) -> torch.Tensor:
    """Model-range images (N, C, H, W) -> the share of pixels brighter than mid-grey (N,)."""
    return (x.mean(1) > 0).float().flatten(1).mean(1)


def slant(x: torch.Tensor) -> torch.Tensor:
    """Model-range images (N, C, H, W) -> the ink's shear (N,): positive leans right (/)."""
    w = ((x.mean(1) + 1) / 2).clamp_min(0)  # ink weight 0..1, (N, H, W)
    h, wd = w.shape[-2:]
    ys = torch.arange(h, dtype=w.dtype).view(1, h, 1)
    xs = torch.arange(wd, dtype=w.dtype).view(1, 1, wd)
    m = w.sum((1, 2)).clamp_min(1e-6)
    my, mx = (w * ys).sum((1, 2)) / m, (w * xs).sum((1, 2)) / m
    dy, dx = ys - my.view(-1, 1, 1), xs - mx.view(-1, 1, 1)
    mu11, mu02 = (w * dx * dy).sum((1, 2)) / m, (w * dy * dy).sum((1, 2)) / m
    return -mu11 / mu02.clamp_min(1e-6)  # rows grow downwards: a right lean has x falling with y


def select(spec: Spec, x: torch.Tensor, probs: Optional[torch.Tensor], k: int) -> torch.Tensor:
    """Indices of the k pool samples (model-range images x, classifier probabilities) that fit."""
    idx = torch.arange(len(x))
    score = torch.zeros(len(x))
    if spec.klass is not None:
        if probs is None:
            raise UserError(f"group {spec.text!r} names a class, but this dataset has no domain classifier")
        p = probs[:, spec.klass]
        idx = idx[p >= MIN_CONFIDENCE]
        score = p
    if spec.attribute is not None:
        score = {"thick": ink(x), "thin": -ink(x), "slant=right": slant(x), "slant=left": -slant(x)}[spec.attribute]
    if len(idx) < k:
        raise UserError(f"group {spec.text!r}: only {len(idx)} of {len(x)} samples fit (need {k}); "
                        "draw a larger --pool or ask for a smaller --k")
    return idx[score[idx].argsort(descending=True)[:k]]


def combine(parts: list[tuple[torch.Tensor, Optional[torch.Tensor]]]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """[(z, y) of a, of b, of c] (each a group's latents (k, Z) and one-hot classes (k, K) or None)
    -> mean(a) - mean(b) + mean(c): (z (1, Z), soft class (1, K) or None)."""
    (za, ya), (zb, yb), (zc, yc) = parts
    z = za.mean(0, keepdim=True) - zb.mean(0, keepdim=True) + zc.mean(0, keepdim=True)
    if ya is None:
        return z, None
    y = (ya.mean(0, keepdim=True) - yb.mean(0, keepdim=True) + yc.mean(0, keepdim=True)).clamp_min(0)
    return z, y / y.sum(1, keepdim=True).clamp_min(1e-6)


@dataclass
class Arithmetic:
    """What `arithmetic` made: groups a, b, c (k model-range images each), each group's mean-latent
    image, and the result a - b + c with `k - 1` variations (uniform noise on its latent)."""

    groups: list[torch.Tensor]  # 3 x (k, C, H, W)
    means: torch.Tensor  # (3, C, H, W)
    result: torch.Tensor  # (k, C, H, W): the result first, then its variations
    z: torch.Tensor  # (1, Z) the result's latent (a self-conditioned G's: without its cluster)
    soft_label: Optional[torch.Tensor]  # (1, K) its soft class or cluster, or None

    def grid(self) -> torch.Tensor:
        """Four rows of k + 1 images: a, b, c with their mean-latent image last; then the result
        and its variations, the result also in the last column (under the means)."""
        rows = [torch.cat([g, m[None]]) for g, m in zip(self.groups, self.means)]
        rows.append(torch.cat([self.result, self.result[:1]]))
        return torch.cat(rows)


@torch.no_grad()
def arithmetic(model, specs: list[str], k: int = 8, pool: int = 2000, seed: int = 0, noise: float = 0.25,
               data_dir: Optional[str] = None, rescale: bool = True) -> Arithmetic:
    """a - b + c over the groups `specs` (three spec strings) of a gankit.load(RUN) model;
    rescale: the mean latents and the result put back at a sample's typical length (`typical`)."""
    from gankit.data.base import to_uint8
    from gankit.models.selfcond import SelfConditionedG

    if len(specs) != 3:
        raise UserError("arithmetic takes three groups: a - b + c")
    if model.info.kind != "image":
        raise UserError("latent arithmetic works on images; this run was trained on points")
    if k < 1 or pool < k:
        raise UserError("k must be at least 1 and the pool at least k")
    info = model.info
    parsed = [parse_spec(s, info.class_names, info.num_classes) for s in specs]
    g = torch.Generator().manual_seed(seed)
    z = model.algo.latents(pool, g)
    G = model.nets[model.algo.sampler]
    selfcond = isinstance(G, SelfConditionedG)
    onehot = None
    if selfcond:  # the cluster drawn from z_0 becomes a one-hot vector of its own
        z, ids = G.split(z.to(model.device))
        z, onehot = z.cpu(), torch.eye(G.num_clusters)[ids.cpu()]
    elif model.conditional:
        onehot = torch.eye(info.num_classes)[torch.randint(info.num_classes, (pool,), generator=g)]
    x = torch.cat([_gen(model, z[i:i + 500], None if onehot is None else onehot[i:i + 500])
                   for i in range(0, pool, 500)])
    probs = None
    if any(s.klass is not None for s in parsed):
        from gankit.metrics.features import make_extractor

        ex = make_extractor("classifier", model.cfg.dataset, "image", data_dir or model.cfg.data_dir,
                            str(model.device), image_size=info.shape[-1], channels=info.shape[0])
        probs = ex(to_uint8(x)).probs
    parts, groups, means = [], [], []
    fit = (lambda z: typical(z, model.cfg.z_dim)) if rescale else (lambda z: z)
    for s in parsed:
        idx = select(s, x, probs, k)
        zi, yi = z[idx], None if onehot is None else onehot[idx]
        parts.append((zi, yi))
        groups.append(x[idx])
        zm, ym = zi.mean(0, keepdim=True), None if yi is None else yi.mean(0, keepdim=True)
        means.append(_gen(model, fit(zm), ym)[0])
    zr, yr = combine(parts)
    jitter = (torch.rand(k - 1, zr.shape[1], generator=g) * 2 - 1) * noise
    zr, zs = fit(zr), fit(torch.cat([zr, zr + jitter]))
    result = _gen(model, zs, None if yr is None else yr.expand(k, -1))
    return Arithmetic(groups, torch.stack(means), result, zr, yr)


def typical(z: torch.Tensor, n: int) -> torch.Tensor:
    """z (N, Z) with each row's first n entries (the standard-normal noise) scaled to length
    sqrt(n), the length of a typical draw: a mean of k latents is sqrt(k) times shorter, and a
    generator makes faint, atypical images of such short latents (White 2016, "Sampling generative
    networks"). The rest (a model's codes) is left as it is."""
    n = min(n, z.shape[1])
    head = z[:, :n]
    head = head * (n ** 0.5 / head.norm(dim=1, keepdim=True).clamp_min(1e-6))
    return torch.cat([head, z[:, n:]], 1)


def _gen(model, z: torch.Tensor, soft: Optional[torch.Tensor]) -> torch.Tensor:
    """G on continuous latents and soft one-hot classes (or clusters), model range on the CPU."""
    G = model.nets[model.algo.sampler]
    from gankit.models.selfcond import SelfConditionedG

    if isinstance(G, SelfConditionedG):
        return G.net(z.to(model.device), soft.to(model.device)).float().cpu()
    return model.generate(z, soft)
