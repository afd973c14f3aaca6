"""GANs against the vae and the autoencoder after equal wall time, judged by `gankit eval`.

Usage: python bench/gan_vs_vae.py --dataset mnist --data-dir ../shared/data/mnist [--minutes 5]
                                  [--models dcgan,vae,autoencoder] [--n 10000] [--out DIR] [--threads N]
Each model trains in its own `gankit train` process for the same --minutes (its registry defaults,
seed 0), then `gankit eval RUN --n N --no-memorization` scores it against the test split. Prints
the machine (CPU model, AVX-512 / bf16 / AMX flags, torch threads) and a markdown table: epochs,
images/s, FID (and the real-data floor), precision, recall, classes covered, -log p(x) by IWAE and
the reconstruction MSE where the model has them, and label accuracy for conditional models (their
samples asked for labels 0..K-1 in turn). Writes DIR/samples_<model>.png (64 samples, seed
0) and DIR/side_by_side.png (real test images, then each model's grid, left to right). Plain
prints; never asserts. With --dataset digits and --minutes 0.05 it runs in about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import gankit  # noqa: E402
from gankit.data.base import to_uint8  # noqa: E402
from gankit.runs import RunFolder, images_per_second  # noqa: E402


def machine() -> str:
    """The CPU (gankit.device.describe_cpu), torch's version and threads."""
    from gankit.device import describe_cpu

    return f"{describe_cpu()}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def gankit_cli(*args: str) -> None:
    """`python -m gankit ARGS` with this working tree's gankit first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "gankit", *args], check=True, stdout=subprocess.DEVNULL, env=env)


def row(model: str, run: Path) -> str:
    """One markdown row from the run's metrics.jsonl and eval.json."""
    result = json.loads((run / "eval.json").read_text())
    s, f = result["scores"], result["floor"]
    rows = RunFolder(run).read_metrics()
    train = [r for r in rows if "img_per_s" in r]
    rate = images_per_second(rows)
    epochs = train[-1]["epoch"] if train else 0.0

    def num(key: str, fmt: str) -> str:
        return format(s[key], fmt) if key in s else "-"
    nll = f"{s['nll_iwae']:.2f} +-{s['nll_iwae_std']:.2f}" if "nll_iwae" in s else "-"
    return (f"| `{model}` | {epochs:.2f} | {rate:.0f} | {s['fid']:.3f} ({f['fid']:.3f}) | {num('precision', '.3f')} | "
            f"{num('recall', '.3f')} | {num('classes_covered', 'd')} | {num('label_accuracy', '.4f')} | {nll} | "
            f"{num('recon_mse', '.4f')} |")


def side_by_side(runs: dict[str, Path], dataset: str, data_dir: str | None, out: Path) -> None:
    """64 samples per model (seed 0; conditional models cycle the labels) beside 64 real test images."""
    from gankit.data import DataSpec, load_dataset
    from gankit.viz import make_grid, save_png

    grids = []
    cfg, _ = RunFolder.open(next(iter(runs.values()))).read_config()
    test = load_dataset(dataset, DataSpec(data_dir=Path(data_dir) if data_dir else None, split="test",
                                          image_size=cfg.image_size, channels=cfg.channels))
    grids.append(make_grid(test.x[:64], nrow=8))
    for model, run in runs.items():
        m = gankit.load(run, "last")
        x = to_uint8(m.sample(64, seed=0, label="all" if m.conditional else None, as_tensor=True))
        grid = make_grid(x, nrow=8)
        save_png(grid, out / f"samples_{model}.png")
        grids.append(grid)
    gap = torch.full((grids[0].shape[0], grids[0].shape[1], 8), 255, dtype=torch.uint8)
    save_png(torch.cat([t for g in grids for t in (g, gap)][:-1], dim=2), out / "side_by_side.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--minutes", type=float, default=5.0, help="training wall time of every model")
    ap.add_argument("--models", default="dcgan,vae,autoencoder")
    ap.add_argument("--n", type=int, default=10000, help="samples each evaluation draws")
    ap.add_argument("--out", default=None, help="folder for the runs and grids (default: a temp folder)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads of training (--set threads=N)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gankit-gan-vs-vae-"))
    out.mkdir(parents=True, exist_ok=True)
    data = ["--dataset", args.dataset] + (["--data-dir", args.data_dir] if args.data_dir else [])
    print(f"machine: {machine()}")
    print(f"{args.dataset}: {args.minutes:g} min of training per model (registry defaults, seed 0), "
          f"`gankit eval --n {args.n} --no-memorization` of the last checkpoint\n")
    print("| model | epochs | img/s | FID (floor) | precision | recall | classes covered | label accuracy "
          "| -log p(x), IWAE (nats) | recon MSE |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    runs = {}
    for model in args.models.split(","):
        run = out / model
        threads = ["--set", f"threads={args.threads}"] if args.threads else []
        gankit_cli("train", model, *data, "--minutes", str(args.minutes), "--out", str(run), "--seed", "0", *threads)
        gankit_cli("eval", str(run), "--n", str(args.n), "--checkpoint", "last", "--no-memorization",
                   *(["--data-dir", args.data_dir] if args.data_dir else []))
        runs[model] = run
        print(row(model, run), flush=True)
    side_by_side(runs, args.dataset, args.data_dir, out)
    print(f"\nruns, samples_<model>.png and side_by_side.png (real test images first) in {out}")


if __name__ == "__main__":
    from entry import run

    run(main)
