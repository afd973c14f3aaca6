"""The run manager: it trains any algorithm (gankit/algorithms) into a run folder.

It owns the optimizers, the phases' zero_grad / backward / step, mixed precision, the EMA, the
budget, logging (also to TensorBoard), grids, evaluation, checkpoints, exact resume, divergence
handling and torchrun, and works over the algorithm's named networks and optimizers without
knowing what they are: checkpoint keys come from the names ("G.", "D.", "G_ema.", "opt_d.", ...),
EMA copies are kept for the networks the algorithm lists, and torchrun wraps the networks that
have an optimizer. It imports no model and no objective; `spec.make(cfg, info)` hands it the
algorithm.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from gankit import __version__
from gankit.algorithms.base import Algorithm, Context, Phase
from gankit.config import TrainConfig
from gankit.data import Dataset
from gankit.data.batches import Batches, BatchSampler
from gankit.device import autocast, resolve_device, resolve_precision
from gankit.errors import UserError
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training import checkpoint_schema
from gankit.training import distributed
from gankit.training.budget import Budget, auto_epochs, auto_sample_every
from gankit.training.divergence import Diverged, DivergenceWatch, finite_weights, json_safe
from gankit.training.ema import EMA
from gankit.training.interrupt import DeferredInterrupt
from gankit.training.optim import compiled, make_optimizer, match_layout
from gankit.training.progress import Progress
from gankit.training.snapshots import fixed_grid_inputs, save_figures, save_snapshot
from gankit.training.tensorboard import Board, check as check_tensorboard

__all__ = ["BatchSampler", "Trainer", "eval_reference"]


class Trainer:
    """Builds everything for one run from a config, a dataset and a model spec, and trains it."""

    def __init__(self, cfg: TrainConfig, data: Dataset, run: RunFolder, spec: Any,
                 evaluator=None, dist=None):
        """spec: anything with make(cfg, data_info) -> Algorithm (a registered model).
        evaluator: a metrics.evaluate.Reference for `eval_every`; built here when not given.
        dist: this process's distributed.Dist under torchrun (its group started), else None."""
        self.cfg, self.data, self.run, self.dist = cfg, data, run, dist
        check_tensorboard(cfg)  # a missing tensorboard package fails before anything is built
        if dist is not None:
            distributed.check(cfg, dist, len(data))
            self.run = distributed.RankRun(run, dist)  # rank 0 writes, the others read
        self.device = dist.device if dist is not None else resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device, data.kind)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)  # the networks' initial weights
        info = data.info()
        self.algo: Algorithm = spec.make(cfg, info)
        self.nets: dict[str, nn.Module] = self.algo.networks
        fields = {k: v.to(self.device) for k, v in data.fields().items()}
        t0 = time.perf_counter()
        fields = self.algo.prepare(fields, restored=False, log=self.run.log)
        prepared_in = time.perf_counter() - t0  # set-up from the data (k-means) is training time
        for net in self.nets.values():
            net.to(self.device).train()
        self.memory_format = torch.channels_last if cfg.channels_last and data.kind == "image" else None
        if self.memory_format is not None:
            for net in self.nets.values():
                net.to(memory_format=self.memory_format)
        if dist is not None and cfg.sync_bn:  # batch statistics over the global batch
            for name, net in self.nets.items():
                self.nets[name] = distributed.sync_batchnorm(net, self.device)
        specs = self.algo.optimizers()
        trained = {n for s in specs.values() for n in s.networks}
        # the callables the phases run: compiled and/or DDP wrappers sharing the parameters, or
        # the networks themselves; checkpoints and sampling always use the networks
        self.fwd: dict[str, Any] = {}
        for name, net in self.nets.items():
            f = distributed.wrap(net, dist) if dist is not None and name in trained else net
            self.fwd[name] = compiled(f) if cfg.compile else f
        self.opt_specs = specs
        self.opts = {name: make_optimizer(cfg, [p for n in s.networks for p in self.nets[n].parameters()],
                                          getattr(cfg, s.lr_key))
                     for name, s in specs.items()}
        self.emas = {name: EMA(self.nets[name], cfg.ema) for name in self.algo.ema} if cfg.ema > 0 else {}
        self.shard = dict(rank=dist.rank, world=dist.world_size) if dist is not None else {}
        self.sampler = BatchSampler(len(data), cfg.batch_size, cfg.seed, **self.shard)
        if self.sampler.bs % cfg.pack:
            raise UserError(f"the dataset has only {len(data)} items, fewer than batch_size, and "
                            f"that is not a multiple of pack={cfg.pack}; lower batch_size")
        self.batches = Batches(fields, self.device, self.memory_format)
        rank = dist.rank if dist is not None else 0
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1 + rank)  # z and eps
        if rank:  # other noise (dropout) differs per rank too; rank 0's is a lone process's
            torch.manual_seed(cfg.seed + 1 + rank)
        self.ctx = Context(self.fwd, self.gen, self.device, self.opts)
        self.step = 0
        self.elapsed = prepared_in
        self.stats: dict[str, torch.Tensor] = {}  # sums since the last metrics row
        self.per_iteration = self.algo.batches_per_iteration()
        self.budget = Budget(auto_epochs(cfg, len(data)), cfg.max_steps, cfg.minutes)
        self.watch = DivergenceWatch(cfg, info.num_classes)
        self.rollbacks = 0  # on_divergence=rollback: how many so far (saved in checkpoints)
        self.grid_z, self.grid_labels = fixed_grid_inputs(cfg, info, self.device, self.algo)
        self.evaluator = evaluator
        if evaluator is None and cfg.eval_every and distributed.is_rank0(dist):  # rank 0 evaluates
            self.evaluator = eval_reference(cfg)
        self.saves = 0  # `last` checkpoints written by this process (checkpoints by the clock count from the newest)
        self.stopped_by = None  # the signal (SIGINT, SIGTERM) that stopped training, once one has
        self.best_fid: Optional[float] = None  # the lowest FID of the quick evaluations so far
        # what the run folder gets, also as TensorBoard events (rank 0); a writer opens in train()
        self.board = Board(run.tensorboard_dir if cfg.tensorboard and distributed.is_rank0(dist) else None)

    # --- checkpoints
    def state_tensors(self, together: bool = False) -> dict[str, torch.Tensor]:
        """Everything a checkpoint holds but the optimizers. `together` (torchrun, every rank
        calls it): ranks > 0 add their RNG states and stats as "rank<r>.rng.*", "rank<r>.stats.*"."""
        t: dict[str, torch.Tensor] = {}
        for name, net in self.nets.items():
            ckpt.module_tensors(name, net, t)
        for name, ema in self.emas.items():
            ckpt.module_tensors(f"{name}_ema", ema.model, t)
        for k, v in self.algo.extra_state().items():
            t[f"extra.{k}"] = v
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
        if which != "best":  # `best` (rank 0 alone) neither is a resume point nor moves the clock
            self.saves += 1  # on every rank alike: the clock's cadence counts from here
        if not distributed.is_rank0(self.dist):
            return True
        meta = {
            "gankit_version": __version__, "model": self.cfg.model, "algorithm": type(self.algo).__name__,
            "step": self.step, "epoch": self.sampler.epoch, "pos": self.sampler.pos,
            "elapsed": self.elapsed, "config": self.cfg.to_dict(), "best_fid": self.best_fid,
            **{f"opt_{name}": ckpt.flatten_optimizer(f"opt_{name}", opt, t) for name, opt in self.opts.items()},
            "rollbacks": self.rollbacks,
        }
        if self.dist is not None:
            meta["world_size"] = self.dist.world_size

        def write():
            ckpt.save(self.run.checkpoint(which), t, meta)
            self.board.flush()  # what was logged up to a checkpoint is on disk with it
            if which == "last" and self.step % self.cfg.checkpoint_every == 0:
                ckpt.keep_step_copy(self.run.checkpoint(which), self.step, self.cfg.keep)
        distributed.on_rank0(self.dist, write)
        return True

    def restore(self, path: Path) -> None:
        """Load a checkpoint, checked whole against what the config builds first
        (checkpoint_schema): a one-line UserError for anything that does not fit."""
        t, raw = ckpt.load(path)
        meta = checkpoint_schema.check(t, raw, self.algo, self.cfg, self.opts, str(path),
                                       tuple(self.gen.get_state().shape))
        if meta.pos >= self.sampler.per_epoch:
            raise UserError(f"checkpoint {path}: field pos is {meta.pos} (expected 0..{self.sampler.per_epoch - 1}, "
                            f"a batch of an epoch of this dataset); {checkpoint_schema.FIX}")
        ckpt.load_algorithm(self.algo, t, raw, {name: e.model for name, e in self.emas.items()})
        self.batches.set_fields(self.algo.prepare(self.batches.fields, restored=True, log=self.run.log))
        for name, opt in self.opts.items():
            ckpt.load_optimizer(f"opt_{name}", opt, raw, t, meta.version)
            match_layout(opt)
        mine = f"rank{self.dist.rank}." if self.dist is not None and self.dist.rank else ""
        if mine + "rng.gen" in t:  # else: a rank the run did not have before keeps its fresh seed
            torch.set_rng_state(t[mine + "rng.torch"])
            self.gen.set_state(t[mine + "rng.gen"])
            if mine + "rng.cuda" in t and self.device.type == "cuda":
                torch.cuda.set_rng_state(t[mine + "rng.cuda"], self.device)
        self.step, self.elapsed = meta.step, meta.elapsed
        # a kill between a new `best` and the next `last` leaves `last` with the older bar
        best = ckpt.read_meta(self.run.checkpoint("best"))
        bars = [b for b in (meta.best_fid, (best or {}).get("best_fid")) if isinstance(b, (int, float))]
        self.best_fid = min(bars, default=None)
        n = len(mine) + 6
        self.stats = {k[n:]: v.to(self.device) for k, v in t.items() if k.startswith(mine + "stats.")}
        self.sampler = BatchSampler(len(self.data), self.cfg.batch_size, self.cfg.seed,
                                    meta.epoch, meta.pos, **self.shard)
        self.rollbacks = meta.rollbacks
        self.watch.replay(r for r in self.run.read_metrics() if r["step"] <= self.step)

    # --- one iteration
    def iteration(self, stats: dict[str, torch.Tensor]) -> None:
        """Every phase of the algorithm, in order: its repeats, each a forward and loss (the
        algorithm's), then zero_grad, backward and its optimizer's step (here)."""
        amp = autocast(self.device, self.precision)
        for phase in self.algo.phases():
            if self.step % phase.every:
                continue
            self._freeze(phase, True)
            try:
                for r in range(phase.repeat):
                    batch = self.batches.take(self.sampler.next()) if phase.batch else None
                    with amp:
                        loss, s = self.algo.loss(phase, r, batch, self.ctx)
                    opt = self.opts[phase.optimizer]
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    self.algo.after_step(phase)
                    _accumulate(stats, s)
            finally:
                self._freeze(phase, False)
        self.step += 1
        for name, ema in self.emas.items():
            ema.update(self.nets[name], self.step)

    def _freeze(self, phase: Phase, frozen: bool) -> None:
        for name in phase.frozen:  # the loss runs through them; their weights get no gradient
            self.nets[name].requires_grad_(not frozen)

    # --- the loop
    def sampling_nets(self) -> dict[str, nn.Module]:
        """The networks sampling uses: the EMA copies where kept."""
        return {name: self.emas[name].model if name in self.emas else net for name, net in self.nets.items()}

    def train(self) -> str:
        """Train until the budget is spent; returns why it stopped. Raises KeyboardInterrupt after
        Ctrl-C or SIGTERM (a checkpoint saved; `stopped_by` says which) and Diverged when a
        divergence stops the run."""
        self.board.start(self.step)
        try:
            return self._train()
        finally:  # at the end, on Ctrl-C and when a divergence stops the run
            self.board.close()

    def _train(self) -> str:
        cfg, run = self.cfg, self.run
        images_per_iter = self.sampler.bs * self.per_iteration
        t_log, step_log = time.perf_counter(), self.step
        t_last = time.perf_counter()
        main = distributed.is_rank0(self.dist)
        progress = Progress(self.budget, self.step, self.sampler.per_epoch / self.per_iteration, shown=main)
        sample_every = auto_sample_every(cfg, self.budget.epochs, len(self.data))
        reason = self.budget.done(self.step, self.sampler.epoch, self.elapsed)
        stop = DeferredInterrupt(together=self.dist is not None, shown=main)
        try:
            saved_at = self.elapsed  # training time of the newest checkpoint
            while reason is None and not stop.requested:
                epoch_before, saves_before = self.sampler.epoch, self.saves
                self.iteration(self.stats)
                now = time.perf_counter()
                self.elapsed += now - t_last
                t_last = now
                if self.step % cfg.log_every == 0:
                    rate = (self.step - step_log) * images_per_iter / max(now - t_log, 1e-9)
                    row = self._metrics_row(self.stats, rate)
                    problem = self.watch.check(row, self._finite())
                    self._append_metrics(dict(json_safe(row), divergence=problem[0]) if problem else row)
                    if main:
                        progress.update(self.step, row)
                    self.stats, t_log, step_log = {}, now, self.step
                    if problem and self._on_divergence(*problem):  # rolled back: go on from there
                        t_log, step_log, t_last = time.perf_counter(), self.step, time.perf_counter()
                        continue
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    # before any checkpoint of this step (the epoch's too), which then holds the new best_fid
                    problem = self._evaluate()
                    t_last = time.perf_counter()  # evaluation time is not charged to the training budget
                    if problem and self._on_divergence(*problem):  # collapsed classes
                        t_log, step_log, t_last = time.perf_counter(), self.step, time.perf_counter()
                        continue
                if self.sampler.epoch != epoch_before:
                    self._end_epoch(self.sampler.epoch, sample_every)
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
                if self.dist is not None:  # the ranks stop together, on the same clock, or fail together
                    stop.requested, self.elapsed = self.dist.agree(stop.asked, self.elapsed)
                # by the clock too (on the agreed clock, so every rank decides alike): a kill on a
                # slow machine loses minutes, not the run
                if self.saves != saves_before:
                    saved_at = self.elapsed
                elif cfg.checkpoint_minutes and self.elapsed - saved_at >= cfg.checkpoint_minutes * 60:
                    self.save()
                    saved_at = self.elapsed
                reason = self.budget.done(self.step, self.sampler.epoch, self.elapsed)
            if not stop.requested:  # Ctrl-C / SIGTERM stays deferred until the end state is saved
                if cfg.eval_every and self.step % cfg.eval_every:
                    self._evaluate()  # the end state is scored too, so `best` considers it
                finished = self.save()
        finally:
            stop.restore()
            progress.close()
        if stop.requested:  # in the loop, or during the final evaluation and save
            saved = self.save()
            self.stopped_by = stop.signum  # None on a rank that another rank's signal stopped
            run.log(f"interrupted at step {self.step}; {'checkpoint saved' if saved else 'nothing saved'}")
            self._agree()
            raise KeyboardInterrupt
        if not finished:
            self._on_divergence("the weights are not finite", self.step, final=True)
        self._snapshot(run.samples_dir / "final.png")
        distributed.on_rank0(self.dist, save_figures, self)
        self._plot()
        run.log(f"stopped at step {self.step}, epoch {self.sampler.epoch}: {reason}")
        self._agree()
        return reason

    def _agree(self) -> None:
        """Under torchrun: every rank raises the UserError that rank 0 met while writing, if any."""
        if self.dist is not None:
            self.dist.agree(False, self.elapsed)

    def _snapshot(self, path: Path) -> None:
        if distributed.on_rank0(self.dist, save_snapshot, self, path):
            self.board.image(path, self.step)

    def _append_metrics(self, row: dict) -> None:
        """A row of metrics.jsonl, also given to TensorBoard."""
        self.run.append_metrics(row)
        self.board.row(row)

    def _evaluate(self) -> Optional[tuple[str, int]]:
        """evaluate() (on rank 0 under torchrun); its divergence verdict, known to every rank."""
        if self.dist is None:
            return self.evaluate()[1]
        return self.dist.share(self.dist.on_rank0(lambda: self.evaluate()[1]))

    @torch.no_grad()
    def evaluate(self) -> tuple[dict, Optional[tuple[str, int]]]:
        """Quick scores of `eval_samples` samples (fixed latents) against the test split: a
        metrics.jsonl row with "eval": true, a log line, and `best` when the FID is the lowest.
        Returns (scores, divergence problem or None): the row also passes the divergence watch,
        which flags classes collapsed to one or two."""
        from gankit.data.base import to_uint8
        from gankit.metrics.evaluate import quick
        from gankit.sampling import draw, eval_mode

        cfg = self.cfg
        n = cfg.eval_samples
        labels = torch.arange(n) % self.data.num_classes if self.algo.conditional else None
        nets = self.sampling_nets()
        with eval_mode(nets[self.algo.sampler]):
            x = draw(self.algo, nets, n, seed=cfg.seed + 104729, labels=labels)
        if self.data.kind == "image":
            x = to_uint8(x)
        scores = quick(self.evaluator, x, labels)
        scores.update(self.algo.quick_scores(nets, self.evaluator, self.device))  # ssgan: D's test accuracy
        row = {"step": self.step, "epoch": self._epoch_progress(), "time_s": round(self.elapsed, 2),
               "eval": True, **scores}
        problem = self.watch.check(row)
        self._append_metrics(dict(json_safe(row), divergence=problem[0]) if problem else row)
        best = not problem and self.algo.keeps_best and (self.best_fid is None or scores["fid"] < self.best_fid)
        if best:
            self.best_fid = scores["fid"]
            self.save("best")
        shown = "  ".join(f"{k}={v}" for k, v in scores.items())
        self.run.log(f"eval at step {self.step}: {shown}{'  (best so far)' if best else ''}")
        return scores, problem

    # --- divergence (see divergence.py)
    def _finite(self, together: bool = True) -> bool:
        """Weights, buffers and EMA finite (under torchrun, with `together`: on every rank)."""
        ok = finite_weights(*self.nets.values(), *(e.model for e in self.emas.values()))
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
        rates = " and ".join(sorted({s.lr_key for s in self.opt_specs.values()}))
        if cfg.on_divergence == "rollback" and not final:
            if self.rollbacks >= cfg.max_rollbacks:
                raise Diverged(f"training diverged at step {self.step} ({problem}) after "
                               f"{self.rollbacks} rollback{'s' * (self.rollbacks != 1)}; giving up ({kept}); "
                               f"start again with lower {rates}")
            return self._rollback(problem, good_until)
        if cfg.on_divergence == "warn":
            problem += "; the weights are no longer finite, so warn cannot go on"
        self._plot()
        raise Diverged(f"training diverged at step {self.step} ({problem}); {kept}; start again "
                       f"with lower {rates}, or with --set on_divergence=rollback")

    def _rollback(self, problem: str, good_until: int) -> bool:
        """Reload the newest checkpoint from before the trouble, halve every learning rate, go on."""
        cfg, run = self.cfg, self.run
        target = self._checkpoint_before(good_until)
        if target is None:
            raise Diverged(f"training diverged at step {self.step} ({problem}) and there is no "
                           f"checkpoint from step {good_until} or before to roll back to; start "
                           "again with lower learning rates (rollback needs (keep - 1) * "
                           "checkpoint_every >= d_win_steps)")
        failed_at, elapsed, count, best_fid = self.step, self.elapsed, self.rollbacks + 1, self.best_fid
        self.restore(target)
        self.watch.forget_wins()
        # wall time spent diverging still counts, and `best` from before the trouble stays the bar
        self.elapsed, self.rollbacks, self.best_fid = elapsed, count, best_fid
        halved = {}
        for key in dict.fromkeys(s.lr_key for s in self.opt_specs.values()):
            halved[key] = getattr(cfg, key) * 0.5
            setattr(cfg, key, halved[key])
        for name, opt in self.opts.items():
            for group in opt.param_groups:
                group["lr"] = halved[self.opt_specs[name].lr_key]
        run.write_config(cfg, self.data.info())  # config.json says which rates are in force
        run.truncate_metrics(self.step)
        self.board.start(self.step)  # TensorBoard drops the abandoned steps too
        self._append_metrics({"step": self.step, "event": "rollback", "divergence": problem,
                              "detected_at": failed_at, **halved})
        distributed.on_rank0(self.dist, ckpt.prune, run.checkpoint_dir, cfg.keep, self.step)  # the abandoned path
        self.save()  # last.safetensors is now this state, so a resume continues from here
        rates = " ".join(f"{k}={v:g}" for k, v in halved.items())
        run.log(f"rolled back to step {self.step} ({target.name}), rollback {count} of "
                f"{cfg.max_rollbacks}; {rates}")
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
        return round(self.sampler.progress(), 4)

    def _metrics_row(self, stats: dict[str, torch.Tensor], rate: float) -> dict:
        row = {"step": self.step,
               "epoch": self._epoch_progress(),
               "images": self.step * self.sampler.bs * self.per_iteration}
        means = {k: v / stats[f"_c_{k}"] for k, v in stats.items() if not k.startswith("_c_")}
        if self.dist is not None:  # the mean over the ranks (equal shares of the global batch)
            means = dict(zip(means, self.dist.mean(list(means.values()))))
        row.update({k: round(float(v), 6) for k, v in means.items()})
        row["img_per_s"] = round(rate, 1)
        # the time one epoch takes at this interval's rate (all models, whatever their phases)
        row["s_per_epoch"] = round(self.sampler.per_epoch * self.sampler.bs / max(rate, 1e-9), 2)
        row["time_s"] = round(self.elapsed, 2)
        return row

    def _end_epoch(self, epoch: int, sample_every: int) -> None:
        # small datasets have many short epochs: grid, checkpoint and curves every sample_every
        if epoch % sample_every and epoch < self.budget.epochs:
            return
        self._snapshot(self.run.samples_dir / f"epoch_{epoch:04d}.png")
        self.save()
        self._plot()
        rows = self.run.read_metrics() if distributed.is_rank0(self.dist) else []
        last = rows[-1] if rows else {}
        losses = "  ".join(f"{k}={last[k]:.4f}" for k in last
                           if (k == "loss" or k.endswith("_loss")) and isinstance(last[k], float))
        pace = f" ({last['s_per_epoch']:.1f} s/epoch)" if isinstance(last.get("s_per_epoch"), (int, float)) else ""
        self.run.log(f"epoch {epoch} done at step {self.step}{pace}  {losses}".rstrip())

    def _plot(self) -> None:
        from gankit.viz import plot_losses

        rows = self.run.read_metrics() if distributed.is_rank0(self.dist) else []
        if rows:
            distributed.on_rank0(self.dist, plot_losses, rows, self.run.losses_png,
                                 f"{self.cfg.model} on {self.cfg.dataset}")


def _accumulate(stats: dict[str, torch.Tensor], s: dict[str, torch.Tensor]) -> None:
    # each phase's stats are averaged over its repeats within the logging interval
    for k, v in s.items():
        stats[k] = stats.get(k, 0) + v.float()
        cnt = f"_c_{k}"
        stats[cnt] = stats.get(cnt, 0) + 1


def eval_reference(cfg: TrainConfig):
    """The test-split reference that `eval_every` scores against (a UserError if the dataset has
    no evaluator)."""
    from gankit.metrics.evaluate import reference

    return reference(cfg.dataset, cfg.data_dir, cfg.image_size, cfg.channels)
