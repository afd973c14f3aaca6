"""Mode collapse on Stacked MNIST (1,000 modes), the VEEGAN / PacGAN Table 2 protocol: each row (a
DCGAN, or a DCGAN with one remedy) trained for --steps G steps over --seeds seeds; then 26,000
samples of each run's (EMA) generator, each channel read by gankit's MNIST classifier, scored by
gankit/metrics/modes.py's stacked_modes:

  modes   modes (000..999) holding at least one sample
  KL      KL(sample modes || uniform over the 1,000)
Mean +- sd over the seeds, with the published rows beside (PacGAN Table 2: DCGAN, the unrolled
GAN, VEEGAN and PacDCGAN2).

Rows (--rows, comma-separated; all by default):
  dcgan-paper   `dcgan --preset paper` (Radford 2015: Adam 2e-4, beta1 0.5, batches of 128, depth 0)
  dcgan         `dcgan` with gankit's defaults
  unrolled5     dcgan-paper with unroll=5
  pack2, pack4  dcgan-paper with pack=2 / 4 (PacDCGAN)
  mbstd         dcgan-paper with the minibatch standard deviation (mbstd=1, groups of 4)
  mbdisc        dcgan-paper with minibatch discrimination (mbdisc=50 kernels of 5)
  selfcond      dcgan-paper self-conditioned on --clusters k-means clusters
--table3 adds PacGAN's Table 3 rows: dcgan-paper, unrolled5 and pack2 (those of them in --rows)
with a discriminator of 1/4 and 1/2 of G's channels (d_width = width / 4, width / 2), published
numbers beside. --table3-only trains those rows alone (the full-size rows are still printed from
--results), so their shorter runs need not wait behind the full-size ones.

Usage: python bench/stacked_mnist.py [--data-dir DIR] [--rows dcgan-paper,pack2] [--seeds 10]
                                     [--steps 5000] [--samples 26000] [--clusters 100] [--table3]
                                     [--table3-only]
                                     [--threads 1] [--no-ema] [--results FILE] [--shard i/n]
                                     [--table-only [--trained-in bf16|fp32]] [--set key=value ...]
Needs the MNIST files (--data-dir, or gankit's search order) and gankit's MNIST classifier (trained
and cached on first use). Finished runs go into --results (bench/results/stacked_mnist.jsonl; see
collapse_runs.py): runs already there are not redone, two processes started with the same command
share the work (each claims a run before it trains it), and the tables are printed from the file
(n: the seeds found; div: the runs that warned of divergence, which a bench run survives to its
budget). A run's precision is part of its identity, so a machine prints the rows trained in the
precision it resolves to; --table-only --trained-in bf16 (or fp32) prints those of the other.
Prints tables; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collapse_runs import Provenance, Results, mean_sd, parse_rows, run_config, train_and_sample, warned  # noqa: E402

from gankit.config import TrainConfig, parse_set  # noqa: E402
from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.data.base import to_uint8  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.metrics.features import make_extractor  # noqa: E402
from gankit.metrics.modes import stacked_modes  # noqa: E402

# name -> (model, preset, keys); selfcond's clusters come from --clusters
ROWS = {
    "dcgan-paper": ("dcgan", "paper", {}),
    "dcgan": ("dcgan", "gankit", {}),
    "unrolled5": ("dcgan", "paper", {"unroll": 5}),
    "pack2": ("dcgan", "paper", {"pack": 2}),
    "pack4": ("dcgan", "paper", {"pack": 4}),
    "mbstd": ("dcgan", "paper", {"mbstd": 1}),
    "mbdisc": ("dcgan", "paper", {"mbdisc": 50}),
    "selfcond": ("dcgan", "paper", {"clusters": None}),
}
PUBLISHED = [("DCGAN (PacGAN Table 2)", "99.0", "3.40"), ("Unrolled GAN (Table 2)", "48.7", "4.32"),
             ("VEEGAN (Table 2)", "150.0", "2.95"), ("PacDCGAN2 (Table 2)", "1000.0", "0.06")]
# modes at D 1/4 and 1/2 of G's size; PacGAN's Table 3 quotes the unrolled GAN at 10 unrolling
# steps (Metz et al. 2017, Table 3, which also has 5 steps: the setting of the unrolled5 row)
TABLE3 = {"dcgan-paper": [("DCGAN", 30.6, 628.0)],
          "unrolled5": [("Unrolled GAN, 5 steps", 236.4, 732.0), ("Unrolled GAN, 10 steps", 327.2, 817.4)],
          "pack2": [("PacDCGAN2", 667.0, 867.0)]}


def plan_rows(rows: list[str], table3: bool, table3_only: bool = False) -> list[tuple[str, float]]:
    """(row, D's fraction of G's channels) in training order: every full-size row, then Table 3's
    (those of TABLE3 in rows); with table3_only, Table 3's alone."""
    small = [(n, f) for n in TABLE3 if n in rows for f in (0.25, 0.5)] if table3 or table3_only else []
    return small if table3_only else [(name, 1.0) for name in rows] + small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the MNIST files")
    ap.add_argument("--rows", default=None, help=f"comma-separated, from {', '.join(ROWS)}")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5000, help="G steps per run (max_steps)")
    ap.add_argument("--samples", type=int, default=26_000)
    ap.add_argument("--clusters", type=int, default=100, help="k-means clusters of the selfcond row")
    ap.add_argument("--table3", action="store_true", help="add PacGAN Table 3's smaller discriminators")
    ap.add_argument("--table3-only", action="store_true",
                    help="train only Table 3's rows (implies --table3); the full-size rows are printed, not trained")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-ema", action="store_true", help="sample G's own weights, not its EMA copy")
    ap.add_argument("--results", default=str(Path(__file__).parent / "results" / "stacked_mnist.jsonl"))
    ap.add_argument("--shard", default="0/1", help="i/n: run every n-th job from the i-th")
    ap.add_argument("--table-only", action="store_true", help="print the tables from --results, train nothing")
    ap.add_argument("--trained-in", choices=["bf16", "fp32"], default=None,
                    help="with --table-only: print the rows trained in this precision (default: this machine's)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    if args.trained_in and not args.table_only:
        ap.error("--trained-in prints rows trained elsewhere: give it with --table-only")
    results = Results(args.results, args.shard)
    cpu = describe_cpu()
    rows = parse_rows(args.rows, ROWS)
    extra = parse_set(args.sets)
    data = load_dataset("stacked-mnist", DataSpec(data_dir=Path(args.data_dir) if args.data_dir else None,
                                                  split="train"))
    print(f"CPU: {cpu}; {args.threads} thread(s) per run, {args.steps} G steps, {args.seeds} seeds, "
          f"{args.samples} samples; 1000 modes; {'EMA' if not args.no_ema else 'own'} weights"
          + "".join(f", {k}={v}" for k, v in extra.items())
          + (f"; rows trained in {args.trained_in}" if args.trained_in else ""), flush=True)  # --set: every row
    args.table3 = args.table3 or args.table3_only
    plan = plan_rows(rows, args.table3)
    jobs = []  # (row, fraction, seed, model, preset, keys, run key)
    for name, fraction in plan:
        model, preset, keys = ROWS[name]
        keys = {k: (args.clusters if v is None else v) for k, v in keys.items()}
        keys.update(extra)
        if fraction != 1.0:
            keys["d_width"] = max(1, round(int(keys.get("width", TrainConfig.width)) * fraction))
        for seed in range(args.seeds):
            cfg = run_config(model, data, preset, keys, args.steps, seed, args.threads)
            jobs.append((name, fraction, seed, model, preset, keys,
                         Results.key(data, cfg, args.trained_in, samples=args.samples, ema=not args.no_ema)))
    done = results.load()
    trains = set(plan_rows(rows, args.table3, args.table3_only))
    todo = [j for i, j in enumerate(jobs) if j[6] not in done and results.mine(i) and (j[0], j[1]) in trains]
    if todo and not args.table_only:
        classify = make_extractor("classifier", "stacked-mnist", "image", args.data_dir, "cpu", 28, 3)
        for n, (name, fraction, seed, model, preset, keys, key) in enumerate(results.claimed(todo)):
            print(f"[{n + 1}, of at most {len(todo)}] {name} D {fraction:g} seed {seed}", file=sys.stderr, flush=True)
            x, facts = train_and_sample(model, data, preset, keys, args.steps, seed, args.samples, args.threads,
                                        ema=not args.no_ema)
            s = stacked_modes(classify(to_uint8(x)).channel_preds)
            facts["judge"] = Provenance.judge(classify.model)
            results.add(key, {"modes": s["modes_captured"], "kl": s["kl_to_uniform"]}, facts, cpu)
    done = results.load()

    def row(name: str, fraction: float) -> None:
        recs = [done[j[6]] for j in jobs if j[0] == name and j[1] == fraction and j[6] in done]
        dw = "G's" if fraction == 1.0 else f"1/{round(1 / fraction)}"
        if not recs:
            print(f"{name:26s} {dw:>8s}   0  (not run yet)")
            return
        modes, kl = [r["scores"]["modes"] for r in recs], [r["scores"]["kl"] for r in recs]
        epoch = statistics.median(r["facts"]["s_per_epoch"] for r in recs)  # a paused run does not skew them
        secs = statistics.median(r["facts"]["seconds"] for r in recs)
        print(f"{name:26s} {dw:>8s} {len(recs):3d} {mean_sd(modes):>15s} {mean_sd(kl, 2):>13s} {epoch:8.1f} "
              f"{secs:6.0f} {warned(recs):4d} {origin.mark(f'{name} D {dw}', recs)}", flush=True)

    origin = Provenance()
    print(f"{'row':26s} {'D width':>8s} {'n':>3s} {'modes':>15s} {'KL':>13s} {'s/epoch':>8s} {'s/run':>6s} {'div':>4s} cpu")
    for name in rows:
        row(name, 1.0)
    for label, modes, kl in PUBLISHED:
        print(f"{label:26s} {'':>8s} {'':>3s} {modes:>15s} {kl:>13s}   (published)")
    if args.table3:
        print("\nPacGAN Table 3: discriminators of 1/4 and 1/2 of G's channels (d_width)")
        for name, published in TABLE3.items():
            if name not in rows:
                continue
            for i, fraction in enumerate((0.25, 0.5)):
                row(name, fraction)
                for label, *modes in published:
                    print(f"{label:26s} {'1/' + str(round(1 / fraction)):>8s} {'':>3s} {modes[i]:>15.1f}"
                          f"{'':>14s}   (published)")
    print(f"\ns/epoch, s/run: the median over a row's runs, on the CPU(s) in its cpu column\n{origin.legend()}")


if __name__ == "__main__":
    from entry import run

    run(main)
