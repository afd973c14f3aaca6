"""Shared by bench/mixtures.py, bench/stacked_mnist.py and bench/ssgan.py: one training run of a
model with a remedy's config keys, in a temporary run folder, and samples from its (EMA) generator; the
results file that keeps each run's scores; and the mean +- sd columns of the tables.

Results file (--results, JSON lines): one line per finished run, keyed by everything that decides
it (the dataset, the run's whole resolved config but its machine keys, the samples drawn, EMA or
not). A bench skips runs already in the file and prints its tables from the file, so a table grows
seed by seed over sessions. n processes started with the same command fill one file side by side:
each claims a run before it trains it (an flock on a file in RESULTS.claims/, dropped when the run
is written or the process ends in any way), so none trains a run another is on or has
finished, and none waits while runs are left (`--shard i/n` still splits the jobs by index). A change
of a model's defaults changes its config, so older lines no longer match and the runs are redone; a
change of a network in code does not, so each line also records the networks' sizes, and a table
warns of a row whose runs disagree (Provenance); so does a line's `judge`, the classifier that
scored a Stacked MNIST run, which a retrained classifier cache changes. Each line names the CPU it
ran on: the tables' time columns are medians over a row's runs, and their cpu column says on which
CPUs."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, TypeVar

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.algorithms import MODELS  # noqa: E402
from gankit.config import build_config  # noqa: E402
from gankit.device import resolve_precision  # noqa: E402
from gankit.files import Busy, hold_lock  # noqa: E402
from gankit.runs import RunFolder  # noqa: E402
from gankit.sampling import draw, eval_mode  # noqa: E402
from gankit.training.budget import auto_images_sets_budget  # noqa: E402
from gankit.training.divergence import Diverged  # noqa: E402
from gankit.training.checkpoint import tensor_digest  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402


J = TypeVar("J")

# keys not in a run's identity: the machine's (the resolved precision is in it), and on_divergence:
# a bench run warns and goes on (it measures the budget's end state, as the papers' runs do), and
# warn trains as stop does until stop would have ended the run
NOT_IN_KEY = ("out", "threads", "device", "on_divergence")


def run_config(model: str, data, preset: str, sets: dict[str, Any], steps: Optional[int], seed: int,
               threads: int = 1, device: str = "cpu", out: str = "run"):
    """The TrainConfig `gankit train MODEL --preset P --set k=v` would build for one bench run;
    steps None: the budget comes from `sets` (e.g. epochs)."""
    spec = MODELS.get(model)
    keys = [f"{k}={v}" for k, v in sets.items()] + ([f"max_steps={steps}"] if steps is not None else [])
    keys += [f"seed={seed}", f"threads={threads}", f"device={device}", "checkpoint_every=1000000000",
             "checkpoint_minutes=0", "on_divergence=warn", f"log_every={max(1, min(100, steps or 100))}",
             "sample_every=1000000"]
    cfg = build_config(model, spec.defaults, None, keys, {"dataset": data.name, "out": out, "preset": preset},
                       spec.dataset_defaults, spec.algorithm.Options, spec.paper)
    if cfg.image_size is None and data.kind == "image":
        cfg.image_size = data.shape[-1]
    return cfg


def run_precision(cfg, data) -> str:
    """The precision a run of `cfg` trains in on this machine (what precision=auto resolves to)."""
    return resolve_precision(cfg.precision, torch.device(cfg.device), data.kind)


class Heartbeat(io.TextIOBase):
    """Where a bench run's progress lines go (its stdout, kept clear for the tables): one "step N"
    line a minute (`every` seconds) reaches stderr as the step, the seconds so far and an estimate
    of those left; the rest is dropped. A terminal shows the trainer's bar instead (on stderr), so
    this speaks only to a log file, where a run of the unrolled DCGAN otherwise says nothing for
    an hour."""

    def __init__(self, total: Optional[int], every: float = 60.0, clock=time.monotonic, out=None):
        self.total, self.every, self.clock, self.out = total, every, clock, out
        self.t0 = self.last = clock()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            m = re.match(r"step (\d+) ", line)
            now = self.clock()
            if not m or now - self.last < self.every:
                continue
            self.last, step, spent = now, int(m.group(1)), now - self.t0
            of = f" of {self.total}" if self.total else ""
            left = f", about {spent * (self.total - step) / step:.0f} s left" if self.total and step else ""
            print(f"    step {step}{of}, {spent:.0f} s{left}", file=self.out or sys.stderr, flush=True)
        return len(text)


@contextlib.contextmanager
def trained(model: str, data, preset: str, sets: dict[str, Any], steps: Optional[int], seed: int, threads: int = 1,
            device: str = "cpu"):
    """Train `model` on `data` (a gankit Dataset) with the model's defaults, `preset`, then `sets`
    over them (as `gankit train MODEL --preset P --set k=v` would), for `steps` G steps (None: the
    budget `sets` gives), in a temporary run folder; yields (trainer, seconds of training), and the
    folder goes when the block ends. The run warns of divergence and goes on (on_divergence=warn);
    one whose weights stop being finite ends there, and the block gets it as it is."""
    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
        out = Path(tmp) / "run"
        cfg = run_config(model, data, preset, sets, steps, seed, threads, device, str(out))
        t0 = time.perf_counter()
        trainer = Trainer(cfg, data, RunFolder.create(out, cfg, data.info()), MODELS.get(model))
        with contextlib.redirect_stdout(Heartbeat(steps)):  # the progress lines; the table is the output
            try:
                trainer.train()
            except Diverged:  # not finite: what it samples is what the budget gave (warned in metrics)
                pass
        try:
            yield trainer, time.perf_counter() - t0
        finally:
            trainer.run.unlock()


def train_and_sample(model: str, data, preset: str, sets: dict[str, Any], steps: int, seed: int,
                     n_samples: int, threads: int = 1, device: str = "cpu",
                     ema: bool = True) -> tuple[torch.Tensor, dict]:
    """`trained(...)`, then n_samples samples (model range) with latents from `seed`, from G's EMA
    copy where the run keeps one (ema=False: G's own weights, as the papers sample). Returns
    (samples, facts: seconds, s_per_epoch, batch size, steps)."""
    with trained(model, data, preset, sets, steps, seed, threads, device) as (trainer, seconds):
        rows = trainer.run.read_metrics()
        warned = [r["step"] for r in rows if r.get("divergence")]
        rows = [r for r in rows if "s_per_epoch" in r]
        nets = trainer.sampling_nets() if ema else dict(trainer.nets)
        with eval_mode(nets[trainer.algo.sampler]):
            x = draw(trainer.algo, nets, n_samples, seed=10_000 + seed)
    facts = {"seconds": seconds, "s_per_epoch": rows[-1]["s_per_epoch"] if rows else math.nan,
             "batch_size": trainer.cfg.batch_size, "steps": trainer.step,
             "diverged_at": warned[0] if warned else None,  # the first step that warned of divergence
             "params": {name: sum(p.numel() for p in net.parameters()) for name, net in trainer.nets.items()}}
    return x, facts


class Results:
    """The runs of one bench in a JSON-lines file (see the module docstring). shard "i/n": this
    process runs the jobs whose index is i modulo n; the others are left to the other shards."""

    def __init__(self, path: str, shard: str = "0/1"):
        self.path = Path(path)
        try:
            i, n = (int(v) for v in shard.split("/"))
        except ValueError:
            raise SystemExit(f"--shard {shard!r}: expected i/n, e.g. 0/2") from None
        if not 0 <= i < n:
            raise SystemExit(f"--shard {shard!r}: i must be in 0..n-1")
        self.shard, self.shards = i, n
        self._held: dict[Path, Any] = {}  # claim file -> its open file, while this process holds it
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(data, cfg, precision: Optional[str] = None, **what: Any) -> str:
        """The identity of a run: the dataset, its config but the machine keys, the precision it
        trains in (here, unless `precision` names another: to print rows trained elsewhere), and
        `what` (the samples drawn, EMA or not)."""
        return Results._canonical({"dataset": data.name, "config": cfg.to_dict(),
                                   "precision": precision or run_precision(cfg, data), **what})

    @staticmethod
    def identity(key: str) -> str:
        """A key as written by an older gankit, with the keys now left out of a run's identity
        (NOT_IN_KEY) taken out of its config."""
        return Results._canonical(json.loads(key))

    @staticmethod
    def _canonical(rec: dict) -> str:
        cfg = {k: v for k, v in rec["config"].items() if k not in NOT_IN_KEY}
        # unroll_real came later: lines without it trained without the real term, and it does
        # nothing without unroll, so it is in a run's identity only where it is on and unrolls
        if not (cfg.get("unroll") and cfg.get("unroll_real")):
            cfg.pop("unroll_real", None)
        if not auto_images_sets_budget(cfg.get("epochs"), cfg.get("minutes"), cfg.get("max_steps")):
            cfg.pop("auto_images", None)
        return json.dumps({**rec, "config": cfg}, sort_keys=True)

    def load(self) -> dict[str, dict]:
        """key -> record of every finished run in the file (a cut last line is skipped)."""
        found = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    found[self.identity(rec["key"])] = rec
                except (ValueError, KeyError, TypeError):
                    continue
        return found

    def mine(self, index: int) -> bool:
        return index % self.shards == self.shard

    @property
    def claims(self) -> Path:
        """The folder of claims: one file per run a process is training now."""
        return self.path.with_name(self.path.name + ".claims")

    def _claim_file(self, key: str) -> Path:
        return self.claims / (hashlib.sha256(self.identity(key).encode()).hexdigest()[:24] + ".lock")

    def claim(self, key: str) -> bool:
        """Claim the run `key` for this process: True where no other process holds it. A claim is
        an flock on its file, as a run folder's lock is (gankit/runs.py): the kernel drops it when
        the process ends in any way, kill -9 included, so a claim never goes stale. Without flock
        (Windows, some network mounts) every claim succeeds: use --shard there."""
        path = self._claim_file(key)
        if path in self._held:
            return True
        self.claims.mkdir(parents=True, exist_ok=True)
        try:
            f = hold_lock(path)
        except Busy:
            return False
        if f is not None:
            self._held[path] = f
        return True

    def release(self, key: str) -> None:
        """Drop the claim, removing its file while still holding it (a process that opened it
        meanwhile gets the lock of a removed file, and finds the run in the results file)."""
        path = self._claim_file(key)
        f = self._held.pop(path, None)
        if f is not None:
            path.unlink(missing_ok=True)
            f.close()  # closing the file releases the flock

    def claimed(self, jobs: Iterable[J], key=lambda job: job[-1]) -> Iterator[J]:
        """The jobs of `jobs` (runs not yet in the file) that this process gets to run, one at a
        time: each is claimed before it is yielded and released when the caller asks for the next
        one (or stops); a job another process holds, or finished since `jobs` was listed, is
        passed over."""
        for job in jobs:
            k = key(job)
            if not self.claim(k):
                continue
            try:
                if self.identity(k) in self.load():  # finished by another process since the list was made
                    continue
                yield job
            finally:
                self.release(k)

    def add(self, key: str, scores: dict, facts: dict, cpu: str) -> None:
        """Append one finished run (one line, flushed and synced: a kill loses at most this run)."""
        rec = {"key": key, "scores": scores, "facts": facts, "cpu": cpu, "commit": COMMIT,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# the commit this process's code came from, taken when it starts: a bench that runs for hours
# writes its lines under the code it runs, not under commits made while it ran
COMMIT = _commit()


def warned(records: list[dict]) -> int:
    """How many of these runs warned of divergence on the way (records of Results)."""
    return sum(1 for r in records if r["facts"].get("diverged_at") is not None)


class Provenance:
    """What a table's rows stand on beyond their key: the CPUs their runs' times were taken on (a
    letter each, "A+B" for a row of runs on two; the legend names them), the size of the networks
    they trained (`facts.params`, from runs since it was recorded) and the classifier that scored
    them (`facts.judge`, where a bench records it): a row whose runs trained networks of different
    sizes mixes code versions, one scored by two classifiers mixes caches; both are named in
    `warnings`."""

    def __init__(self):
        self.cpus: list[str] = []
        self.warnings: list[str] = []

    def mark(self, row: str, records: list[dict]) -> str:
        letters = []
        for cpu in sorted({r.get("cpu", "unknown") for r in records}):
            if cpu not in self.cpus:
                self.cpus.append(cpu)
            letters.append(chr(ord("A") + self.cpus.index(cpu)))
        sizes = sorted({json.dumps(r["facts"]["params"], sort_keys=True) for r in records if "params" in r["facts"]})
        if len(sizes) > 1:
            self.warnings.append(f"{row}: its runs trained networks of {len(sizes)} sizes ({'; '.join(sizes)}): "
                                 "older lines of the results file are stale, delete them and rerun")
        judges = sorted({r["facts"]["judge"] for r in records if "judge" in r["facts"]})
        if len(judges) > 1:
            self.warnings.append(f"{row}: its runs were scored by {len(judges)} different classifiers "
                                 f"({', '.join(judges)}): the classifier cache was retrained between them, "
                                 "delete the older lines and rerun")
        return "+".join(sorted(letters))

    @staticmethod
    def judge(model: torch.nn.Module) -> str:
        """The identity of the classifier that scores a bench's samples (`facts.judge`): the start
        of the sha256 of its weights (the digest a checkpoint keeps of its tensors), so a table can
        tell runs scored by a retrained cache apart."""
        return tensor_digest({k: v.detach().cpu() for k, v in model.state_dict().items()})[:12]

    def legend(self) -> str:
        lines = [f"cpu {chr(ord('A') + i)}: {cpu}" for i, cpu in enumerate(self.cpus)]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def mean_sd(values: list[float], digits: int = 1, scale: float = 1.0) -> str:
    """'m +- sd' of the finite values (sd over the seeds, n - 1; no sd for one value), with how many
    were infinite (a reverse KL without any high-quality sample) after it."""
    v = [x * scale for x in values if math.isfinite(x)]
    inf = sum(1 for x in values if not math.isfinite(x))
    tail = f" ({inf} inf)" if inf else ""
    if not v:
        return "inf" if inf else "-"
    m = sum(v) / len(v)
    if len(v) < 2:
        return f"{m:.{digits}f}{tail}"
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    return f"{m:.{digits}f} +- {sd:.{digits}f}{tail}"


def parse_rows(text: Optional[str], known: dict) -> list[str]:
    """--rows a,b,c -> the names, each checked against `known` (all of them when not given)."""
    if not text:
        return list(known)
    names = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in names if r not in known]
    if bad:
        raise SystemExit(f"unknown rows {', '.join(bad)}; choose from {', '.join(known)}")
    return names
