"""The training loop: it owns the optimizers, the steps, the EMA, logging and checkpoints.

It knows neither architectures nor loss formulas: a model family builds (G, D), an objective says
what their losses are. One iteration = `d_steps` discriminator steps, each on a fresh real batch,
then `g_steps` generator steps. An epoch is one pass of the training images through D.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from gankit.config import TrainConfig
from gankit.data import Dataset, to_model_range
from gankit.data.base import DataInfo
from gankit.data.clusters import assign, kmeans
from gankit.errors import UserError
from gankit.models import MODELS
from gankit.models.selfcond import SelfConditionedD, SelfConditionedG
from gankit.objectives import OBJECTIVES
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training import distributed
from gankit.training.device import autocast, resolve_device, resolve_precision
from gankit.training.divergence import Diverged, DivergenceWatch, finite_weights, json_safe
from gankit.training.ema import EMA
from gankit.training.progress import Progress
from gankit.training.snapshots import fixed_grid_inputs, save_epoch_grid

AUTO_EPOCH_IMAGES = 300_000  # epochs=None trains until D has seen about this many real images


class BatchSampler:
    """Shuffled batches by index; the permutation of epoch e is a pure function of (seed, e), so
    the sampler's whole state is (epoch, pos) and resume needs nothing else. Under torchrun
    every rank walks the same batches (`bs` is the global batch) and takes its slice `rank` of
    `world` equal parts of each."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int = 0, pos: int = 0,
                 rank: int = 0, world: int = 1):
        self.n, self.bs, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.bs  # the last partial batch is dropped (batch norm dislikes tiny batches)
        self.epoch, self.pos = epoch, pos
        self.rank, self.world = rank, world
        self._perm: Optional[torch.Tensor] = None

    def next(self) -> torch.Tensor:
        if self._perm is None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._perm = torch.randperm(self.n, generator=g)
        idx = self._perm[self.pos * self.bs:(self.pos + 1) * self.bs]
        if self.world > 1:
            share = self.bs // self.world
            idx = idx[self.rank * share:(self.rank + 1) * share]
        self.pos += 1
        if self.pos == self.per_epoch:
            self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
        return idx


def auto_epochs(cfg: TrainConfig, n: int) -> float:
    """Explicit epochs; else no epoch limit under a minutes or step budget; else ~300k images."""
    if cfg.epochs:
        return cfg.epochs
    if cfg.minutes or cfg.max_steps:
        return math.inf
    return max(5, math.ceil(AUTO_EPOCH_IMAGES / n))


def auto_sample_every(cfg: TrainConfig, epochs: float, n: int) -> int:
    """Epochs between grids: at most ~50 grids a run, or one per ~6k images without an epoch limit."""
    if cfg.sample_every:
        return cfg.sample_every
    if math.isinf(epochs):
        return max(1, math.ceil(AUTO_EPOCH_IMAGES / 50 / n))
    return max(1, math.ceil(epochs / 50))


def make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    fused = {"fused": True} if cfg.fused else {}  # RMSprop has no fused kernel; it ignores the key
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), **fused)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, **fused)
    return torch.optim.RMSprop(params, lr=lr)


def compiled(module: nn.Module) -> nn.Module:
    """torch.compile(module), or the module itself where compiling is not possible. Errors found
    later, while tracing the first steps, also fall back to eager code (suppress_errors)."""
    try:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True
        return torch.compile(module)
    except Exception:  # no compiler for this platform or Python
        return module


@dataclass
class Budget:
    """When to stop: total epochs, generator steps, or wall minutes (summed across resumes)."""

    epochs: float  # math.inf: no epoch limit
    max_steps: Optional[int]
    minutes: Optional[float]

    def done(self, step: int, epoch: int, elapsed: float) -> Optional[str]:
        if epoch >= self.epochs:
            return f"finished {self.epochs:g} epochs"
        if self.max_steps is not None and step >= self.max_steps:
            return f"reached max_steps={self.max_steps}"
        if self.minutes is not None and elapsed >= self.minutes * 60:
            return f"reached the {self.minutes:g}-minute budget"
        return None


class Trainer:
    """Builds everything for one run from a config and a dataset, and trains it."""

    def __init__(self, cfg: TrainConfig, data: Dataset, run: RunFolder, evaluator=None, dist=None):
        """`evaluator`: a metrics.evaluate.Reference for `eval_every`; built here when not given.
        `dist`: this process's distributed.Dist under torchrun (its group started), else None."""
        self.cfg, self.data, self.run, self.dist = cfg, data, run, dist
        if dist is not None:
            distributed.check(cfg, dist, len(data))
            self.run = distributed.RankRun(run, dist)  # rank 0 writes, the others read
        self.device = dist.device if dist is not None else resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        t0 = time.perf_counter()
        # the data lives on the training device as one tensor; batches are index lookups
        self.x = data.x.to(self.device)
        self.y = data.labels.to(self.device) if data.labels is not None else None
        self.G, self.D = build_models(cfg, data.info())
        if cfg.clusters:  # self-conditioning: G and D train on k-means clusters instead of labels
            found = kmeans(self.x, cfg.clusters, cfg.seed)
            self.y = found.ids
            self.G.prior.copy_(found.prior)
            self.D.centers.copy_(found.centers)
            self.run.log(f"self-conditioning on {cfg.clusters} k-means clusters of the training data "
                         f"(shares {found.prior.min():.4f} to {found.prior.max():.4f}, "
                         f"{time.perf_counter() - t0:.1f} s)")
        self.G.to(self.device).train()
        self.D.to(self.device).train()
        self.memory_format = torch.channels_last if cfg.channels_last and data.kind == "image" else None
        if self.memory_format is not None:
            self.G.to(memory_format=self.memory_format)
            self.D.to(memory_format=self.memory_format)
        if dist is not None and cfg.sync_bn:  # batch statistics over the global batch
            self.G, self.D = (distributed.sync_batchnorm(m, self.device) for m in (self.G, self.D))
        # the networks the training steps call: compiled wrappers sharing G's and D's parameters,
        # or G and D themselves; checkpoints and sampling always use G and D
        self.g_net = compiled(self.G) if cfg.compile else self.G
        self.d_net = compiled(self.D) if cfg.compile else self.D
        if dist is not None:
            wrap = lambda m: compiled(distributed.wrap(m, dist)) if cfg.compile else distributed.wrap(m, dist)
            self.g_net, self.d_net = wrap(self.G), wrap(self.D)
        self.objective = OBJECTIVES.get(cfg.objective).build(cfg)
        self.opt_d = make_optimizer(cfg, self.D.parameters(), cfg.lr_d)
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr_g)
        self.ema = EMA(self.G, cfg.ema) if cfg.ema > 0 else None
        self.conditional = MODELS.get(cfg.model).conditional  # labels are the data's classes
        self.labelled = self.conditional or cfg.clusters > 0  # G and D take labels in training
        self.shard = dict(rank=dist.rank, world=dist.world_size) if dist is not None else {}
        self.sampler = BatchSampler(len(data), cfg.batch_size, cfg.seed, **self.shard)
        if self.sampler.bs % cfg.pack:
            raise UserError(f"the dataset has only {len(data)} items, fewer than batch_size, and "
                            f"that is not a multiple of pack={cfg.pack}; lower batch_size")
        rank = dist.rank if dist is not None else 0
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1 + rank)  # z and eps
        if rank:  # other noise (dropout) differs per rank too; rank 0's is a lone process's
            torch.manual_seed(cfg.seed + 1 + rank)
        self.step = 0
        self.elapsed = time.perf_counter() - t0 if cfg.clusters else 0.0  # clustering is training time
        self.stats: dict[str, torch.Tensor] = {}  # sums since the last metrics row
        self.budget = Budget(auto_epochs(cfg, len(data)), cfg.max_steps, cfg.minutes)
        self.watch = DivergenceWatch(cfg, data.info().num_classes)
        self.rollbacks = 0  # on_divergence=rollback: how many so far (saved in checkpoints)
        self.grid_z, self.grid_labels = fixed_grid_inputs(cfg, data.info(), self.device)
        self.evaluator = evaluator
        if evaluator is None and cfg.eval_every and (dist is None or dist.main):  # rank 0 evaluates
            self.evaluator = eval_reference(cfg)
        self.best_fid: Optional[float] = None  # the lowest FID of the quick evaluations so far

    # --- checkpoints
    def state_tensors(self, together: bool = False) -> dict[str, torch.Tensor]:
        """Everything a checkpoint holds but the optimizers. `together` (torchrun, every rank
        calls it): ranks > 0 add their RNG states and stats as "rank<r>.rng.*", "rank<r>.stats.*"."""
        t: dict[str, torch.Tensor] = {}
        ckpt.module_tensors("G", self.G, t)
        ckpt.module_tensors("D", self.D, t)
        if self.ema:
            ckpt.module_tensors("G_ema", self.ema.model, t)
        t["rng.torch"] = torch.get_rng_state()
        t["rng.gen"] = self.gen.get_state()
        if self.device.type == "cuda":
            t["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        for k, v in self.stats.items():  # a half-filled logging interval resumes where it was
            t[f"stats.{k}"] = torch.as_tensor(v, dtype=torch.float32)
        if together:
            mine = {k: v.detach().cpu() for k, v in t.items() if k.startswith(("rng.", "stats."))}
            for r, theirs in enumerate(self.dist.gather(mine)):
                t.update({f"rank{r}.{k}": v for k, v in theirs.items()} if r else {})
        return t

    def save(self, which: str = "last") -> bool:
        """Write checkpoint `which`; periodic ones are also kept as step_NNNNNNNN (newest `keep`).
        Weights that are not finite are never written (the previous checkpoint is the good one):
        then this logs why and returns False."""
        together = self.dist is not None and which != "best"  # best: rank 0 alone, in evaluate
        if not self._finite(together):
            self.run.log(f"checkpoint {which} not written at step {self.step}: the weights are not finite")
            return False
        t = self.state_tensors(together)
        if self.dist is not None and not self.dist.main:
            return True
        meta = {
            "step": self.step, "epoch": self.sampler.epoch, "pos": self.sampler.pos,
            "elapsed": self.elapsed, "config": self.cfg.to_dict(), "best_fid": self.best_fid,
            "opt_d": ckpt.flatten_optimizer("opt_d", self.opt_d, t),
            "opt_g": ckpt.flatten_optimizer("opt_g", self.opt_g, t),
            "rollbacks": self.rollbacks,
        }
        if self.dist is not None:
            meta["world_size"] = self.dist.world_size

        def write():
            ckpt.save(self.run.checkpoint(which), t, meta)
            if which == "last" and self.step % self.cfg.checkpoint_every == 0:
                ckpt.keep_step_copy(self.run.checkpoint(which), self.step, self.cfg.keep)
        self._main(write)
        return True

    def _main(self, fn, *args):
        """fn(*args) when training alone; under torchrun on rank 0 only, where a UserError is held
        until the ranks next agree (then every rank raises it)."""
        return fn(*args) if self.dist is None else self.dist.main_only(fn, *args)

    def restore(self, path: Path) -> None:
        t, meta = ckpt.load(path)
        ckpt.load_module("G", self.G, t)
        ckpt.load_module("D", self.D, t)
        if self.ema:
            ckpt.load_module("G_ema", self.ema.model, t)
        if self.cfg.clusters:  # the saved centres decide the clusters, whatever this machine's k-means found
            self.y = assign(self.x, self.D.centers)
        self.opt_d.load_state_dict(ckpt.unflatten_optimizer("opt_d", meta["opt_d"], t))
        self.opt_g.load_state_dict(ckpt.unflatten_optimizer("opt_g", meta["opt_g"], t))
        for opt in (self.opt_d, self.opt_g):
            _match_layout(opt)
        mine = f"rank{self.dist.rank}." if self.dist is not None and self.dist.rank else ""
        if mine + "rng.gen" in t:  # else: a rank the run did not have before keeps its fresh seed
            torch.set_rng_state(t[mine + "rng.torch"])
            self.gen.set_state(t[mine + "rng.gen"])
            if mine + "rng.cuda" in t and self.device.type == "cuda":
                torch.cuda.set_rng_state(t[mine + "rng.cuda"], self.device)
        self.step, self.elapsed = meta["step"], meta["elapsed"]
        self.best_fid = meta.get("best_fid")
        n = len(mine) + 6
        self.stats = {k[n:]: v.to(self.device) for k, v in t.items() if k.startswith(mine + "stats.")}
        self.sampler = BatchSampler(len(self.data), self.cfg.batch_size, self.cfg.seed,
                                    meta["epoch"], meta["pos"], **self.shard)
        self.rollbacks = meta.get("rollbacks", 0)
        self.watch.replay(r for r in self.run.read_metrics() if r.get("step", 0) <= self.step)

    # --- one iteration
    def _real_batch(self):
        idx = self.sampler.next().to(self.device)
        real = to_model_range(self.x[idx])
        if self.memory_format is not None:
            real = real.contiguous(memory_format=self.memory_format)
        labels = self.y[idx] if self.labelled else None
        return real, labels

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=self.gen, device=self.device)

    def iteration(self, stats: dict[str, torch.Tensor]) -> None:
        cfg, amp = self.cfg, autocast(self.device, self.precision)
        fake = None
        for k in range(cfg.d_steps):
            real, labels = self._real_batch()
            last = k == cfg.d_steps - 1
            # the last D step's fake keeps its graph: the first G step reuses it (same z), which
            # saves one generator forward pass per iteration (unless fresh_z asks for new latents)
            with amp, torch.set_grad_enabled(last and not cfg.fresh_z):
                fake = self.g_net(self._z(len(real)), labels)
            with amp:
                loss, s = self.objective.d_loss(self.d_net, real, fake.detach(), labels, self.gen)
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
            self.objective.after_d_step(self.D)
            _accumulate(stats, s)
        self.D.requires_grad_(False)  # G's step needs gradients through D, not for D
        for j in range(cfg.g_steps):
            with amp:
                if j > 0 or cfg.fresh_z:
                    fake = self.g_net(self._z(len(fake)), labels)
                loss, s = self.objective.g_loss(self.d_net, fake, labels)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
            _accumulate(stats, s)
        self.D.requires_grad_(True)
        self.step += 1
        if self.ema:
            self.ema.update(self.G, self.step)

    # --- the loop
    def sampling_generator(self) -> nn.Module:
        return self.ema.model if self.ema else self.G

    def train(self) -> str:
        cfg, run = self.cfg, self.run
        images_per_iter = self.sampler.bs * cfg.d_steps
        t_log, step_log = time.perf_counter(), self.step
        t_last = time.perf_counter()
        main = self.dist is None or self.dist.main
        progress = Progress(self.budget, self.step, self.sampler.per_epoch / cfg.d_steps, shown=main)
        sample_every = auto_sample_every(cfg, self.budget.epochs, len(self.data))
        reason = self.budget.done(self.step, self.sampler.epoch, self.elapsed)
        stop = _DeferredInterrupt(together=self.dist is not None, shown=main)
        try:
            while reason is None and not stop.requested:
                epoch_before = self.sampler.epoch
                self.iteration(self.stats)
                now = time.perf_counter()
                self.elapsed += now - t_last
                t_last = now
                if self.step % cfg.log_every == 0:
                    rate = (self.step - step_log) * images_per_iter / max(now - t_log, 1e-9)
                    row = self._metrics_row(self.stats, rate)
                    problem = self.watch.check(row, self._finite())
                    run.append_metrics(dict(json_safe(row), divergence=problem[0]) if problem else row)
                    if main:
                        progress.update(self.step, row)
                    self.stats, t_log, step_log = {}, now, self.step
                    if problem and self._on_divergence(*problem):  # rolled back: go on from there
                        t_log, step_log, t_last = time.perf_counter(), self.step, time.perf_counter()
                        continue
                if self.sampler.epoch != epoch_before:
                    self._end_epoch(self.sampler.epoch, sample_every)
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    problem = self._evaluate()  # before the checkpoint, which then holds the new best_fid
                    t_last = time.perf_counter()  # evaluation time is not charged to the training budget
                    if problem and self._on_divergence(*problem):  # collapsed classes
                        t_log, step_log, t_last = time.perf_counter(), self.step, time.perf_counter()
                        continue
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
                if self.dist is not None:  # the ranks stop together, on the same clock, or fail together
                    stop.requested, self.elapsed = self.dist.agree(stop.asked, self.elapsed)
                reason = self.budget.done(self.step, self.sampler.epoch, self.elapsed)
        finally:
            stop.restore()
            progress.close()
        if stop.requested:
            saved = self.save()
            run.log(f"interrupted at step {self.step}; {'checkpoint saved' if saved else 'nothing saved'}")
            self._agree()
            raise KeyboardInterrupt
        if cfg.eval_every and self.step % cfg.eval_every:
            self._evaluate()  # the end state is scored too, so `best` considers it
        if not self.save():
            self._on_divergence("the weights are not finite", self.step, final=True)
        self._main(save_epoch_grid, self, run.samples_dir / "final.png")
        self._plot()
        run.log(f"stopped at step {self.step}, epoch {self.sampler.epoch}: {reason}")
        self._agree()
        return reason

    def _agree(self) -> None:
        """Under torchrun: every rank raises the UserError that rank 0 met while writing, if any."""
        if self.dist is not None:
            self.dist.agree(False, self.elapsed)

    def _evaluate(self) -> Optional[tuple[str, int]]:
        """evaluate() (on rank 0 under torchrun); its divergence verdict, known to every rank."""
        if self.dist is None:
            return self.evaluate()[1]
        return self.dist.share(self.dist.main_only(lambda: self.evaluate()[1]))

    @torch.no_grad()
    def evaluate(self) -> tuple[dict, Optional[tuple[str, int]]]:
        """Quick scores of `eval_samples` samples (fixed latents) against the test split: a
        metrics.jsonl row with "eval": true, a log line, and `best` when the FID is the lowest.
        Returns (scores, divergence problem or None): the row also passes the divergence watch,
        which flags classes collapsed to one or two."""
        from gankit.data.base import to_uint8
        from gankit.generate import generate
        from gankit.metrics.evaluate import quick

        cfg, G = self.cfg, self.sampling_generator()
        n = cfg.eval_samples
        labels = torch.arange(n) % self.data.num_classes if self.conditional else None
        was_training = G.training
        G.eval()
        try:
            x = generate(G, n, cfg.z_dim, labels, seed=cfg.seed + 104729)
        finally:
            G.train(was_training)
        if self.data.kind == "image":
            x = to_uint8(x)
        scores = quick(self.evaluator, x, labels)
        row = {"step": self.step, "epoch": self._epoch_progress(), "time_s": round(self.elapsed, 2),
               "eval": True, **scores}
        problem = self.watch.check(row)
        self.run.append_metrics(dict(json_safe(row), divergence=problem[0]) if problem else row)
        best = not problem and (self.best_fid is None or scores["fid"] < self.best_fid)
        if best:
            self.best_fid = scores["fid"]
            self.save("best")
        shown = "  ".join(f"{k}={v}" for k, v in scores.items())
        self.run.log(f"eval at step {self.step}: {shown}{'  (best so far)' if best else ''}")
        return scores, problem

    # --- divergence (see divergence.py)
    def _finite(self, together: bool = True) -> bool:
        """Weights, buffers and EMA finite (under torchrun, with `together`: on every rank)."""
        ok = finite_weights(self.G, self.D, *([self.ema.model] if self.ema else []))
        return self.dist.all_true(ok) if together and self.dist is not None else ok

    def _on_divergence(self, problem: str, good_until: int, final: bool = False) -> bool:
        """Log it, then stop (raise Diverged), warn (return False) or roll back (return True)."""
        cfg, run = self.cfg, self.run
        run.log(f"divergence at step {self.step}: {problem}")
        if cfg.on_divergence == "warn" and self._finite() and not final:
            run.log("on_divergence=warn: training goes on")
            return False
        last = ckpt.read_meta(run.checkpoint())
        kept = f"checkpoints/last.safetensors keeps step {last['step']}" if last else "no checkpoint was written"
        if cfg.on_divergence == "rollback" and not final:
            if self.rollbacks >= cfg.max_rollbacks:
                raise Diverged(f"training diverged at step {self.step} ({problem}) after "
                               f"{self.rollbacks} rollbacks; giving up ({kept}); start again with "
                               "lower lr_d and lr_g")
            return self._rollback(problem, good_until)
        if cfg.on_divergence == "warn":
            problem += "; the weights are no longer finite, so warn cannot go on"
        self._plot()
        raise Diverged(f"training diverged at step {self.step} ({problem}); {kept}; start again "
                       "with lower lr_d and lr_g, or with --set on_divergence=rollback")

    def _rollback(self, problem: str, good_until: int) -> bool:
        """Reload the newest checkpoint from before the trouble, halve both learning rates, go on."""
        cfg, run = self.cfg, self.run
        target = self._checkpoint_before(good_until)
        if target is None:
            raise Diverged(f"training diverged at step {self.step} ({problem}) and there is no "
                           f"checkpoint from step {good_until} or before to roll back to; start "
                           "again with lower lr_d and lr_g (rollback needs (keep - 1) * "
                           "checkpoint_every >= d_win_steps)")
        failed_at, elapsed, count, best_fid = self.step, self.elapsed, self.rollbacks + 1, self.best_fid
        self.restore(target)
        # wall time spent diverging still counts, and `best` from before the trouble stays the bar
        self.elapsed, self.rollbacks, self.best_fid = elapsed, count, best_fid
        cfg.lr_d, cfg.lr_g = cfg.lr_d * 0.5, cfg.lr_g * 0.5
        for opt, lr in ((self.opt_d, cfg.lr_d), (self.opt_g, cfg.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr
        run.write_config(cfg, self.data.info())  # config.json says which rates are in force
        run.truncate_metrics(self.step)
        run.append_metrics({"step": self.step, "event": "rollback", "divergence": problem,
                            "detected_at": failed_at, "lr_d": cfg.lr_d, "lr_g": cfg.lr_g})
        self._main(ckpt.prune, run.checkpoint_dir, cfg.keep, self.step)  # the abandoned path
        self.save()  # last.safetensors is now this state, so a resume continues from here
        run.log(f"rolled back to step {self.step} ({target.name}), rollback {count} of "
                f"{cfg.max_rollbacks}; lr_d={cfg.lr_d:g} lr_g={cfg.lr_g:g}")
        return True

    def _checkpoint_before(self, step: int) -> Optional[Path]:
        """The newest readable checkpoint (last or step_NNNNNNNN) saved at `step` or before."""
        found = [(s, p) for s, p in ckpt.step_checkpoints(self.run.checkpoint_dir) if s <= step]
        meta = ckpt.read_meta(self.run.checkpoint())
        if meta and meta.get("step", step + 1) <= step:
            found.append((meta["step"], self.run.checkpoint()))
        # newest first; at equal steps last.safetensors (the same state) is named
        for _, path in sorted(found, key=lambda sp: (sp[0], sp[1].name == "last.safetensors"), reverse=True):
            try:
                ckpt.load(path)  # checksum
            except UserError:
                continue
            return path
        return None

    def _epoch_progress(self) -> float:
        """Epochs done, with the current one's fraction (4 decimals), for metrics rows."""
        return round(self.sampler.epoch + self.sampler.pos / self.sampler.per_epoch, 4)

    def _metrics_row(self, stats: dict[str, torch.Tensor], rate: float) -> dict:
        row = {"step": self.step,
               "epoch": self._epoch_progress(),
               "images": self.step * self.sampler.bs * self.cfg.d_steps}
        means = {k: v / stats[f"_c_{k}"] for k, v in stats.items() if not k.startswith("_c_")}
        if self.dist is not None:  # the mean over the ranks (equal shares of the global batch)
            means = dict(zip(means, self.dist.mean(list(means.values()))))
        row.update({k: round(float(v), 6) for k, v in means.items()})
        row["img_per_s"] = round(rate, 1)
        row["time_s"] = round(self.elapsed, 2)
        return row

    def _end_epoch(self, epoch: int, sample_every: int) -> None:
        # small datasets have many short epochs: grid, checkpoint and curves every sample_every
        if epoch % sample_every and epoch < self.budget.epochs:
            return
        self._main(save_epoch_grid, self, self.run.samples_dir / f"epoch_{epoch:04d}.png")
        self.save()
        self._plot()
        rows = self.run.read_metrics() if self.dist is None or self.dist.main else []
        last = rows[-1] if rows else {}
        losses = "  ".join(f"{k}={last[k]:.4f}" for k in ("d_loss", "g_loss") if k in last)
        self.run.log(f"epoch {epoch} done at step {self.step}  {losses}")

    def _plot(self) -> None:
        from gankit.viz import plot_losses

        rows = self.run.read_metrics() if self.dist is None or self.dist.main else []
        if rows:
            self._main(plot_losses, rows, self.run.losses_png, f"{self.cfg.model} on {self.cfg.dataset}")


class _DeferredInterrupt:
    """The first Ctrl-C asks the loop to stop after the current iteration, so the checkpoint it
    then saves is a consistent state (D and G from the same step) and resume stays exact. A second
    Ctrl-C interrupts at once."""

    def __init__(self, together: bool = False, shown: bool = True):
        """together (torchrun): Ctrl-C only sets `asked`; the ranks agree on `requested`."""
        self.requested = self.asked = False
        self.together, self.shown = together, shown
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        self.requested = self.requested or not self.together
        if self.shown:
            print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)",
                  file=sys.stderr, flush=True)

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def _match_layout(opt: torch.optim.Optimizer) -> None:
    """Give restored optimizer state the memory layout of its parameter. Checkpoints store NCHW;
    a channels_last parameter with NCHW moments would pair the wrong elements in fused kernels."""
    for p, state in opt.state.items():
        for k, v in state.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                state[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _accumulate(stats: dict[str, torch.Tensor], s: dict[str, torch.Tensor]) -> None:
    # D-step stats are averaged over d_steps and G-step stats over g_steps within the interval
    for k, v in s.items():
        stats[k] = stats.get(k, 0) + v.float()
        cnt = f"_c_{k}"
        stats[cnt] = stats.get(cnt, 0) + 1


def eval_reference(cfg: TrainConfig):
    """The test-split reference that `eval_every` scores against (a UserError if the dataset has
    no evaluator)."""
    from gankit.metrics.evaluate import reference

    return reference(cfg.dataset, cfg.data_dir, cfg.image_size, cfg.channels)


def build_models(cfg: TrainConfig, data: DataInfo) -> tuple[nn.Module, nn.Module]:
    spec = MODELS.get(cfg.model)
    if data.kind not in spec.kinds:
        raise UserError(f"model {cfg.model!r} works on {' or '.join(spec.kinds)} data, "
                        f"but dataset {data.name!r} is {data.kind}; `gankit models` lists models")
    if cfg.clusters and cfg.pack > 1:
        raise UserError("pack > 1 does not work with clusters (D judges one image against its cluster); "
                        "drop one of them")
    G, D = spec.build(cfg, data)
    if cfg.clusters:  # self-conditioned: the cluster prior and centres are set by the Trainer
        G = SelfConditionedG(G, cfg.clusters)
        D = SelfConditionedD(D, cfg.clusters, math.prod(data.shape))
    return G, D
