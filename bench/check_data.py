"""Load the real MNIST, Fashion-MNIST and USPS files and print counts, label histograms and load times.

Usage: python bench/check_data.py MNIST_DIR [FASHION_DIR [USPS_DIR]]
  MNIST_DIR    a folder with the four MNIST IDX files (e.g. ../shared/data/mnist)
  FASHION_DIR  default /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)
  USPS_DIR     a folder with the four USPS IDX files (e.g. ../shared/data/usps); without it USPS
               is skipped
Every file is checked as in normal use (structure, counts, labels, official MD5); a bad or missing
file prints its one-line error. Nothing is downloaded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.errors import UserError  # noqa: E402


def check(name: str, folder: Path) -> bool:
    ok = True
    for split in ("train", "test"):
        t0 = time.perf_counter()
        try:
            ds = load_dataset(name, DataSpec(data_dir=folder, split=split, download=False))
        except UserError as e:
            print(f"{name} {split}: ERROR {e}")
            ok = False
            continue
        dt = time.perf_counter() - t0
        hist = ds.labels.bincount(minlength=ds.num_classes).tolist()
        x = ds.x.float()
        print(
            f"{name:13s} {split:5s} {len(ds):6d} images {tuple(ds.shape)} {ds.x.dtype}"
            f"  mean {x.mean():.2f} std {x.std():.2f}  loaded in {dt:.3f} s from {ds.source}"
        )
        print(f"{'':19s}labels: {hist}")
    t0 = time.perf_counter()
    try:
        ds = load_dataset(name, DataSpec(data_dir=folder, image_size=64, download=False))
        print(f"{'':19s}train resized to {tuple(ds.shape)} in {time.perf_counter() - t0:.3f} s (load + resize)")
    except UserError as e:
        print(f"{name} train at 64: ERROR {e}")
        ok = False
    return ok


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    mnist = Path(argv[0])
    fashion = Path(argv[1]) if len(argv) > 1 else Path("/usr/share/datasets/fashion-mnist")
    ok = check("mnist", mnist)
    ok &= check("fashion-mnist", fashion)
    if len(argv) > 2:
        ok &= check("usps", Path(argv[2]))
    else:
        print("usps: skipped (pass USPS_DIR as the third argument)")
    return 0 if ok else 1


if __name__ == "__main__":
    from entry import run

    run(lambda: main(sys.argv[1:]))
