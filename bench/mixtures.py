"""Mode collapse on the 2-D mixtures, PacGAN's Table 1 protocol: each row (a model, or `gan` with
one remedy) trained on ring8 and grid25 (or any --datasets, e.g. Metz's ring8-metz) for --steps G
steps, over --seeds seeds; then 2,500 samples of each run's (EMA) generator, scored by
gankit/metrics/modes.py's mixture_modes:

  modes       modes holding at least one high-quality sample (within 3 std of the mode's centre)
  modes20     modes holding at least 20% of the high-quality samples a uniform spread gives them
              (gankit eval's stricter count)
  hq %        share of the samples that are high quality
  rev KL      KL(modes of the high-quality samples || uniform), PacGAN's reverse KL
  div         runs that warned of divergence (a bench run goes on to its budget; collapse_runs.py)
  ok          seeds with every mode captured and >= 95% high-quality samples (the issue's goal:
              8/8 on ring8 and 25/25 on grid25 in at least 9 of 10 seeds)
Mean +- sd over the seeds; the published rows are printed beside (PacGAN Table 1; the unrolled
GAN's from VEEGAN's table, modes only).

Rows (--rows, comma-separated; all by default):
  gan             gankit's `gan` (its defaults on points: a 2-D latent on ring8 and grid25, as
                  PacGAN's G; every `gan` row below inherits it)
  gan-z100        `gan` with a 100-D latent (z_dim=100), gankit's default before; --set z_dim=100
                  gives any row that latent
  unrolled5/10    `gan` with unroll=5 / 10 (G's loss through D unrolled, second-order, D's real term
                  included; --set unroll_real=false: the fake term only)
  unrolled5-minimax
                  unrolled5 with the minimax loss (G's unrolled loss is then -f(G, D_K), the paper's)
  unrolled-paper  the `unrolled` model (Metz 2017's 2-D networks, minimax value function, Adam 1e-4,
                  batches of 512)
  pack2, pack4    `gan` with pack=2 / 4 (PacGAN): the batch of 64 samples makes 32 / 16 packs
  pacgan2/4       as PacGAN's code packs: its batch counts packs, each of P fresh samples, so
                  `gan` with pack=P and batch_size=64 P (64 packs, D sees 64 P real and fake samples)
  mbstd           `gan` with the minibatch standard deviation (mbstd=1, groups of 4)
  mbdisc          `gan` with minibatch discrimination (mbdisc=50 kernels of 5)
  wgan-gp         gankit's `wgan-gp` (MLP critic on points)
  selfcond        `gan` self-conditioned on --clusters k-means clusters of the data

Usage: python bench/mixtures.py [--datasets ring8,grid25] [--rows gan,pack4] [--seeds 10] [--preset paper]
                                [--steps 20000] [--samples 2500] [--clusters 50] [--threads 1] [--no-ema]
                                [--results FILE] [--shard i/n] [--table-only] [--set key=value ...]
--set goes into every row's config over its own keys. Each run uses `threads` CPU threads (1 by
default). Finished runs go into --results (bench/results/mixtures.jsonl; see collapse_runs.py):
runs already there are not redone, two processes started with the same command share the work
(each claims a run before it trains it), and the tables are printed from the file (n: the seeds
found). Prints tables; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collapse_runs import Provenance, Results, mean_sd, parse_rows, run_config, train_and_sample, warned  # noqa: E402

from gankit.config import parse_set  # noqa: E402
from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.data.toy2d import mode_centres, mode_std  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.metrics.modes import mixture_modes  # noqa: E402

# name -> (model, its keys); selfcond's clusters come from --clusters
ROWS = {
    "gan": ("gan", {}),
    "gan-z100": ("gan", {"z_dim": 100}),
    "unrolled5": ("gan", {"unroll": 5}),
    "unrolled10": ("gan", {"unroll": 10}),
    "unrolled5-minimax": ("gan", {"unroll": 5, "loss": "minimax"}),
    "unrolled-paper": ("unrolled", {}),
    "pack2": ("gan", {"pack": 2}),
    "pack4": ("gan", {"pack": 4}),
    "pacgan2": ("gan", {"pack": 2, "batch_size": 128}),
    "pacgan4": ("gan", {"pack": 4, "batch_size": 256}),
    "mbstd": ("gan", {"mbstd": 1}),
    "mbdisc": ("gan", {"mbdisc": 50}),
    "wgan-gp": ("wgan-gp", {}),
    "selfcond": ("gan", {"clusters": None}),
}
# PacGAN Table 1 (modes, high-quality %, reverse KL); the unrolled GAN's modes from VEEGAN's table
PUBLISHED = {
    "ring8": [("GAN (PacGAN Table 1)", "6.3", "98.2", "0.45"), ("PacGAN4 (PacGAN Table 1)", "7.8", "95.9", "0.07"),
              ("Unrolled GAN (VEEGAN)", "7.6", "-", "-")],
    "grid25": [("GAN (PacGAN Table 1)", "17.3", "94.8", "0.70"), ("PacGAN4 (PacGAN Table 1)", "24.8", "93.6", "0.04"),
               ("Unrolled GAN (VEEGAN)", "23.6", "-", "-")],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--rows", default=None, help=f"comma-separated, from {', '.join(ROWS)}")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20000, help="G steps per run (max_steps)")
    ap.add_argument("--samples", type=int, default=2500)
    ap.add_argument("--clusters", type=int, default=50, help="k-means clusters of the selfcond row")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-ema", action="store_true", help="sample G's own weights, not its EMA copy")
    ap.add_argument("--preset", default="gankit", choices=["gankit", "paper"])
    ap.add_argument("--results", default=str(Path(__file__).parent / "results" / "mixtures.jsonl"))
    ap.add_argument("--shard", default="0/1", help="i/n: run every n-th job from the i-th")
    ap.add_argument("--table-only", action="store_true", help="print the tables from --results, train nothing")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    rows = parse_rows(args.rows, ROWS)
    extra = parse_set(args.sets)
    results = Results(args.results, args.shard)
    cpu = describe_cpu()
    print(f"CPU: {cpu} (points: fp32); {args.threads} thread(s) per run, {args.steps} G steps, {args.seeds} seeds, "
          f"{args.samples} samples, preset {args.preset}, {'EMA' if not args.no_ema else 'own'} weights"
          + "".join(f", {k}={v}" for k, v in extra.items()), flush=True)  # --set: in every row
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    datasets = {name: load_dataset(name, DataSpec(split="train")) for name in names}
    jobs = []  # (dataset, row, seed, model, keys, run key)
    for name in names:
        for row in rows:
            model, keys = ROWS[row]
            keys = {kk: (args.clusters if v is None else v) for kk, v in keys.items()}
            keys.update(extra)
            for seed in range(args.seeds):
                cfg = run_config(model, datasets[name], args.preset, keys, args.steps, seed, args.threads)
                key = Results.key(datasets[name], cfg, samples=args.samples, ema=not args.no_ema)
                jobs.append((name, row, seed, model, keys, key))
    done = results.load()
    todo = [j for i, j in enumerate(jobs) if j[5] not in done and results.mine(i)]
    if not args.table_only:
        for n, (name, row, seed, model, keys, key) in enumerate(results.claimed(todo)):
            print(f"[{n + 1}, of at most {len(todo)}] {name} {row} seed {seed}", file=sys.stderr, flush=True)
            centres, std = mode_centres(name), mode_std(name)
            x, facts = train_and_sample(model, datasets[name], args.preset, keys, args.steps, seed, args.samples,
                                        args.threads, ema=not args.no_ema)
            hit, strict = mixture_modes(x, centres, std, min_share=0), mixture_modes(x, centres, std)
            scores = {"modes": hit["modes_captured"], "modes20": strict["modes_captured"],
                      "hq": hit["high_quality"], "kl": hit["reverse_kl"]}
            results.add(key, scores, facts, cpu)
    done = results.load()
    origin = Provenance()
    for name in names:
        centres, std = mode_centres(name), mode_std(name)
        k = len(centres)
        print(f"\n{name}: {k} modes, std {std:g}; a high-quality sample lies within 3 std of its mode")
        print(f"{'row':26s} {'n':>3s} {'modes':>13s} {'modes20':>13s} {'hq %':>13s} {'rev KL':>13s} {'ok':>6s} "
              f"{'s/run':>6s} {'div':>4s} cpu", flush=True)
        for row in rows:
            recs = [done[j[5]] for j in jobs if j[0] == name and j[1] == row and j[5] in done]
            if not recs:
                print(f"{row:26s}   0  (not run yet)")
                continue
            col = {c: [r["scores"][c] for r in recs] for c in ("modes", "modes20", "hq", "kl")}
            ok = sum(r["scores"]["modes"] == k and r["scores"]["hq"] >= 0.95 for r in recs)
            secs = statistics.median(r["facts"]["seconds"] for r in recs)  # a paused run does not skew it
            print(f"{row:26s} {len(recs):3d} {mean_sd(col['modes']):>13s} {mean_sd(col['modes20']):>13s} "
                  f"{mean_sd(col['hq'], scale=100):>13s} {mean_sd(col['kl'], 2):>13s} "
                  f"{ok:>3d}/{len(recs):<2d} {secs:6.0f} {warned(recs):4d} {origin.mark(f'{name} {row}', recs)}")
        for label, modes, hq, kl in PUBLISHED.get(name, []):
            print(f"{label:26s} {'':>3s} {modes:>13s} {'':>13s} {hq:>13s} {kl:>13s}   (published)")
    print(f"\ns/run: the median over a row's runs, on the CPU(s) in its cpu column\n{origin.legend()}")


if __name__ == "__main__":
    from entry import run

    run(main)
