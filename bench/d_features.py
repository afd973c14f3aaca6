"""D as a feature extractor with few labels (Radford et al. 2015, section 5.1), beside baselines.

Usage: python bench/d_features.py RUN [--data-dir DIR] [--labels-per-class 10,100,1000] [--seeds 0]
                                  [--sup-steps 1500]
For a trained run of an unconditional GAN on a labelled image dataset, each labels-per-class count
and seed: the test accuracy of a linear L2-SVM (gankit.dfeatures, as `gankit features`) on
  - D features: every activation layer of the run's D, conv maps max-pooled to 4x4;
  - random D:   the same layers of a randomly initialised D of the same shape;
  - pixels:     the raw pixels;
and of supervised: the same D network (its layers up to the logit) with a linear K-way head,
trained from scratch with cross-entropy on the labelled images alone (Adam 2e-4, betas 0.5/0.999,
batches of 64 drawn with replacement, `--sup-steps` steps, eval mode for the test).
Prints a markdown table and the CPU it ran on. Plain prints; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gankit  # noqa: E402
from gankit.algorithms import build  # noqa: E402
from gankit.data import DataSpec, load_dataset  # noqa: E402
from gankit.data.base import to_model_range  # noqa: E402
from gankit.device import describe_cpu  # noqa: E402
from gankit.dfeatures import evaluate, labelled_subset, layer_features, pixels  # noqa: E402


def body_of(D: nn.Module) -> nn.Module:
    """D's layers up to its logit: a DCGAN D's `net` (inside a self-conditioned wrapper too), an MLP
    D's hidden layers."""
    inner = D.net if hasattr(D, "net") and hasattr(D.net, "net") and isinstance(D.net.net, nn.Module) else D
    net = inner.net
    if isinstance(net, nn.Sequential) and isinstance(net[-1], nn.Linear):  # MLP D: drop the logit layer
        return nn.Sequential(nn.Flatten(), *list(net)[:-1])
    return net


def supervised(cfg, info, tx, ty, vx, vy, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    body = body_of(build(cfg, info).networks["D"])
    with torch.no_grad():
        dim = body(tx[:2]).flatten(1).shape[1]
    net = nn.Sequential(body, nn.Flatten(), nn.Linear(dim, info.num_classes))
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        i = torch.randint(len(tx), (64,), generator=g)
        loss = nn.functional.cross_entropy(net(tx[i]), ty[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(vx[i:i + 1000]).argmax(1) for i in range(0, len(vx), 1000)])
    return float((pred == vy).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--labels-per-class", default="10,100,1000")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--sup-steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    per_class = [int(s) for s in a.labels_per_class.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    m = gankit.load(a.run)
    cfg, info = m.cfg, m.info
    spec = lambda split: DataSpec(data_dir=Path(a.data_dir or cfg.data_dir) if (a.data_dir or cfg.data_dir) else None,
                                  split=split, image_size=cfg.image_size, channels=cfg.channels)  # as trained
    train, test = load_dataset(cfg.dataset, spec("train")), load_dataset(cfg.dataset, spec("test"))
    tx, vx = to_model_range(train.x), to_model_range(test.x)
    torch.manual_seed(cfg.seed)
    rand = build(cfg, info).networks["D"]
    D = m.discriminator()
    results: dict = {}
    for name, fn in (("D features", lambda x: layer_features(D, x)), ("random D", lambda x: layer_features(rand, x)),
                     ("pixels", pixels)):
        t0 = time.perf_counter()
        for r in evaluate(fn, tx, train.labels, vx, test.labels, per_class, seeds):
            results.setdefault((name, r["labels_per_class"]), []).append(r["accuracy"])
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for n in per_class:
        for s in seeds:
            idx = labelled_subset(train.labels, n, s)
            acc = supervised(cfg, info, tx[idx], train.labels[idx], vx, test.labels, a.sup_steps, s)
            results.setdefault(("supervised", n), []).append(acc)
    print(f"supervised: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"{cfg.model} on {cfg.dataset} (run {a.run}, step {m.meta.get('step')}); test accuracy (%) on "
          f"{len(test)} images, seeds {a.seeds}; CPU: {describe_cpu()}, {torch.get_num_threads()} thread(s)")
    print("| labels per class | " + " | ".join(n for n in ("D features", "random D", "pixels", "supervised")) + " |")
    print("| --- | --- | --- | --- | --- |")
    for n in per_class:
        cells = []
        for name in ("D features", "random D", "pixels", "supervised"):
            v = [100 * x for x in results[(name, n)]]
            cells.append(f"{statistics.mean(v):.2f}" + (f" +- {statistics.stdev(v):.2f}" if len(v) > 1 else ""))
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    from entry import run

    run(main)
