"""Quality of every model family after a fixed CPU budget on MNIST, judged by gankit's own metrics.

Usage: python bench/quality.py --data-dir ../shared/data/mnist [--minutes 1] [--models dcgan,cdcgan]
                               [--n 10000] [--dataset mnist] [--presets gankit,paper] [--seed 0]
                               [--keep DIR]
Each model trains in its own `gankit train` process for the budget (its registry defaults, or
`--preset paper`, seed 0), then 10,000 samples (labels cycling 0..9 for conditional models) are
scored against the test split in the domain classifier's features. Prints one row per model and
preset: epochs, seconds per epoch, img/s, FID (and the real data floor), KID, Inception Score (in
the classifier's probabilities), precision, recall, classes covered, KL to the data's classes,
label accuracy. The Simple GAN / DCGAN / WGAN-GP comparison of the README:
  python bench/quality.py --data-dir ../shared/data/mnist --models simplegan,dcgan,wgan-gp \
                          --presets gankit,paper --minutes 2
Plain prints; never asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.data.base import to_uint8  # noqa: E402
import gankit  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.metrics.evaluate import evaluate, reference  # noqa: E402
from gankit.runs import RunFolder, images_per_second  # noqa: E402

IMAGE_MODELS = ["gan", "simplegan", "cgan", "dcgan", "cdcgan", "wgan", "wgan-gp", "lsgan", "hinge", "acgan"]


def train(model: str, dataset: str, data_dir: str | None, minutes: float, out: Path, preset: str,
          seed: int) -> float:
    cmd = [sys.executable, "-m", "gankit", "train", model, "--dataset", dataset, "--minutes", str(minutes),
           "--out", str(out), "--preset", preset, "--set", f"seed={seed}"]
    cmd += ["--data-dir", data_dir] if data_dir else []
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def score(run: Path, ref, n: int) -> dict:
    m = gankit.load(run, "last")
    labels = m.labels(n, "all") if m.conditional else None
    x = to_uint8(m.sample(n, 0, labels, as_tensor=True))
    return evaluate(ref, x, labels, seed=0, memorization=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--models", default=",".join(IMAGE_MODELS))
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--presets", default="gankit", help="comma-separated: gankit (the defaults), paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="keep the run folders here (default: a temp folder)")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gankit-quality-"))
    root.mkdir(parents=True, exist_ok=True)
    ref = None
    header = (f"{'model':10s} {'preset':6s} {'epochs':>6s} {'s/epoch':>7s} {'img/s':>6s} {'FID':>8s} {'floor':>6s} "
              f"{'KID':>7s} {'IS':>5s} {'prec':>5s} {'recall':>6s} {'classes':>7s} {'KL':>6s} {'label acc':>9s}")
    print(f"CPU: {describe_cpu()}")
    print(f"{args.dataset}, {args.minutes:g} min of training per model on this machine, seed {args.seed}, "
          f"{args.n} samples each")
    print(header)
    for model, preset in [(m, p) for m in args.models.split(",") for p in args.presets.split(",")]:
        out = root / f"{model}-{preset}-{int(time.time())}"
        wall = train(model, args.dataset, args.data_dir, args.minutes, out, preset, args.seed)
        if ref is None:
            cfg, _ = RunFolder.open(out).read_config()
            ref = reference(args.dataset, args.data_dir, cfg.image_size, cfg.channels)
        r = score(out, ref, args.n)
        rows = RunFolder(out).read_metrics()
        last = [x for x in rows if "img_per_s" in x][-1]
        rate = images_per_second(rows)
        s, f = r["scores"], r["floor"]
        acc = f"{s['label_accuracy']:.4f}" if "label_accuracy" in s else "-"
        print(f"{model:10s} {preset:6s} {last['epoch']:6.2f} {last.get('s_per_epoch', float('nan')):7.1f} "
              f"{rate:6.0f} {s['fid']:8.3f} {f['fid']:6.3f} {s['kid']:7.4f} {s['inception_score']:5.2f} "
              f"{s['precision']:5.3f} {s['recall']:6.3f} {s['classes_covered']:>7d} {s['kl_to_data']:6.3f} "
              f"{acc:>9s}", flush=True)
        (out / "quality.json").write_text(json.dumps({**r, "wall_s": wall}, indent=2))
    print(f"runs in {root}")


if __name__ == "__main__":
    from entry import run

    run(main)
