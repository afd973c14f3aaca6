"""Unrolled GAN (Metz, Poole, Pfau and Sohl-Dickstein 2017): G's loss is taken through a copy of D
that has been trained k more steps on the current batch, so G is scored against the D its move
would provoke and not only against today's. A G that piles onto one mode sees the unrolled D
punish that mode, which counters mode collapse.

The copy is functional: D's parameters (and copies of its buffers, so batch-norm statistics of the
real D stay as they are) go in a dict, each unrolled step computes D's own loss on the last D
step's real batch and on the G step's fake batch, its gradient with `torch.autograd.grad`, and a
new dict from the update D's optimizer would make, run through `torch.func.functional_call`. The
update is the optimizer's own rule (Adam, SGD with momentum or RMSprop), with its current
hyperparameters and its current state (Adam's moments and step count) as the starting point, the
way the authors' reference code unrolls with the Adam updates of D's training op; the unrolled
moments then evolve with the copy. With `create_graph` (the paper's default, `unroll_grad=true`)
the gradient flows through the k updates back into G (the second-order term); without it, only
the final unrolled D's judgement of the fake batch reaches G (the first-order variant).

D's own update is unchanged: only G's loss uses the unrolled copy, and nothing of it is kept.
The paper's surrogate is the whole value function at the unrolled D, f(G, D_K): its real-data
term depends on G too, through D_K's updates (which saw G's samples). gankit's GAN adds that term
(`unroll_real=true`, algorithms/gan.py); without it G's loss scores only its fake batch. On
Metz's ring the term is what spreads G over the modes (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call

# under the square roots of the unrolled Adam and RMSprop: the update's gradient stays finite
# where a gradient and its running square are both 0 (sqrt's derivative at 0 is infinite)
_SQRT_FLOOR = 1e-16

State = dict[str, Tensor]


def functional(D: nn.Module, state: State) -> Callable[..., Tensor]:
    """D as a function of the tensors in `state` (its parameters and buffers by name)."""
    def run(x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return functional_call(D, state, (x, labels))
    return run


def _rule(opt: Optional[torch.optim.Optimizer], cfg: Any) -> tuple[str, dict]:
    """The update rule and its hyperparameters: those of D's optimizer (its first param group),
    or, without one, the config's."""
    if opt is None:
        kind = {"adam": "adam", "sgd": "sgd", "rmsprop": "rmsprop"}[cfg.optimizer]
        return kind, dict(lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), eps=1e-8, momentum=cfg.momentum,
                          alpha=0.99)
    group = opt.param_groups[0]
    kind = "adam" if isinstance(opt, torch.optim.Adam) else "sgd" if isinstance(opt, torch.optim.SGD) else "rmsprop"
    return kind, dict(lr=group["lr"], betas=group.get("betas", (0.9, 0.999)), eps=group.get("eps", 1e-8),
                      momentum=group.get("momentum", 0.0), alpha=group.get("alpha", 0.99))


def _initial_slots(kind: str, opt: Optional[torch.optim.Optimizer], p: nn.Parameter) -> dict:
    """The optimizer's state for parameter p, detached (zeros and step 0 where it has none yet)."""
    st = opt.state.get(p, {}) if opt is not None else {}
    if kind == "adam":
        step = float(st["step"]) if "step" in st else 0.0
        m = st["exp_avg"].detach() if "exp_avg" in st else torch.zeros_like(p)
        v = st["exp_avg_sq"].detach() if "exp_avg_sq" in st else torch.zeros_like(p)
        return {"step": step, "m": m, "v": v}
    if kind == "sgd":
        buf = st.get("momentum_buffer")
        return {"buf": buf.detach() if buf is not None else None}
    sq = st["square_avg"].detach() if "square_avg" in st else torch.zeros_like(p)
    return {"sq": sq}


def _update(kind: str, h: dict, p: Tensor, g: Tensor, slots: dict) -> Tensor:
    """One step of the rule on parameter p with gradient g, differentiable; updates `slots`."""
    lr = h["lr"]
    if kind == "adam":  # torch.optim.Adam's arithmetic, in fused ops (fewer nodes to differentiate)
        b1, b2 = h["betas"]
        slots["step"] += 1
        t = slots["step"]
        m = torch.lerp(slots["m"], g, 1 - b1)
        v = torch.addcmul(slots["v"] * b2, g, g, value=1 - b2)
        slots["m"], slots["v"] = m, v
        denom = (v + _SQRT_FLOOR).sqrt() / (1 - b2 ** t) ** 0.5 + h["eps"]
        return torch.addcdiv(p, m, denom, value=-lr / (1 - b1 ** t))
    if kind == "sgd":
        if h["momentum"]:
            buf = g if slots["buf"] is None else h["momentum"] * slots["buf"] + g
            slots["buf"] = buf
            g = buf
        return p - lr * g
    a = h["alpha"]
    sq = a * slots["sq"] + (1 - a) * g * g
    slots["sq"] = sq
    return p - lr * g / ((sq + _SQRT_FLOOR).sqrt() + h["eps"])


def unroll(D: nn.Module, d_loss: Callable[[Callable[..., Tensor]], Tensor], steps: int,
           opt: Optional[torch.optim.Optimizer], cfg: Any, create_graph: bool = True,
           project: Callable[[State], State] = lambda s: s) -> State:
    """D's parameters and buffers after `steps` functional updates of D's optimizer rule on the
    loss `d_loss(D_function)`. D itself is not changed (its buffers are copied; a frozen D is
    fine). create_graph: the updates stay differentiable (to whatever d_loss's inputs hang on).
    project: applied after each update (WGAN's weight clipping)."""
    kind, h = _rule(opt, cfg)
    named = [(n, p) for n, p in D.named_parameters()]
    params = {n: p.detach().requires_grad_(True) for n, p in named}
    buffers = {n: b.clone() for n, b in D.named_buffers()}
    slots = {n: _initial_slots(kind, opt, p) for n, p in named}
    for _ in range(steps):
        loss = d_loss(functional(D, {**params, **buffers}))
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph,
                                    allow_unused=True)
        new = {}
        for (n, p), g in zip(params.items(), grads):
            if g is None:  # a parameter the loss does not reach (a head unused here)
                new[n] = p
                continue
            if not create_graph:
                g = g.detach()
            new[n] = _update(kind, h, p, g.to(p.dtype), slots[n])
            if not create_graph:
                new[n] = new[n].detach().requires_grad_(True)
        params = project(new)
    return {**params, **buffers}
