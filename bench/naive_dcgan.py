"""A naive DCGAN baseline, written the way the common PyTorch tutorials write one, for the SAME
networks as gankit's default `dcgan`: the point of comparison is the training loop and the data
pipeline, not the architecture.

What is naive here, on purpose (the PyTorch DCGAN tutorial and its many copies):
- a `torch.utils.data.Dataset` that hands out one image at a time as a PIL image, converted per
  item by a Compose of ToTensor and Normalize(0.5, 0.5) (hand-written below, torchvision-style;
  torchvision itself is not installed here);
- a `DataLoader` (batch 64, shuffle=True, num_workers=0: on 2 shared cores worker processes only
  compete with the training threads; `--workers` changes it);
- fp32 throughout, default thread settings, `nn.BCEWithLogitsLoss` on D's logits;
- Adam(2e-4, betas=(0.5, 0.999)) for both nets; per batch one D step (real and fake losses
  backpropagated separately, as in the tutorial) then one G step on a new z;
- no EMA, no autocast, no channels_last, no compile; the losses are read with `.item()` every
  iteration, as the tutorial does to keep its loss history.
The networks come from gankit's model registry (`dcgan` with its defaults: the same width, z_dim,
batch norm and weight init, and the same initial weights for the same seed as `gankit train`).

In-process use (bench/throughput.py, time-to-quality benches):
    naive = NaiveDCGAN(x_uint8, seed=0)            # x: uint8 (N, H, W) or (N, C, H, W)
    stats = naive.train(seconds=20)                # or images=...; {"img_per_s": ..., ...}
    naive.generator                                # G, for sampling
    naive.samples(10000)                           # uint8 (N, H, W) for a .npz

Usage:
    python bench/naive_dcgan.py --data-dir ../shared/data/mnist --seconds 20       # prints img/s
    python bench/naive_dcgan.py --data-dir ../shared/data/mnist --minutes 10 --out naive10 \
        --samples naive10.npz --n 10000                  # then: gankit eval --samples naive10.npz --dataset mnist
    python bench/naive_dcgan.py --load naive10 --samples s.npz --n 10000              # no training
Prints numbers; never asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.config import TrainConfig, validate  # noqa: E402
from gankit.data.base import DataInfo  # noqa: E402
from gankit.errors import UserError  # noqa: E402
from gankit.algorithms import MODELS  # noqa: E402


# --- torchvision-style per-item transforms, written out by hand ---------------------------------

class ToTensor:
    """PIL image (H, W[, C]) uint8 -> float tensor (C, H, W) in [0, 1], as torchvision's ToTensor."""

    def __call__(self, pic: Image.Image) -> torch.Tensor:
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
        img = img.view(pic.size[1], pic.size[0], len(pic.getbands())).permute(2, 0, 1).contiguous()
        return img.float().div(255)


class Normalize:
    """(x - mean) / std per channel, as torchvision's Normalize."""

    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=t.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=t.dtype).view(-1, 1, 1)
        return t.sub(mean).div(std)


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ImageDataset(torch.utils.data.Dataset):
    """Like torchvision.datasets.MNIST: the uint8 images stay in memory, and each item is turned
    into a PIL image and run through the transform when it is asked for."""

    def __init__(self, images_uint8, labels=None, transform=None):
        x = torch.as_tensor(images_uint8)
        if x.dim() == 4:  # (N, C, H, W) -> (N, H, W) grey or (N, H, W, C) colour, as PIL wants
            x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1).contiguous()
        self.data = x
        self.targets = torch.as_tensor(labels) if labels is not None else torch.zeros(len(x), dtype=torch.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy())  # (H, W) uint8 -> mode "L", (H, W, 3) -> "RGB"
        if self.transform is not None:
            img = self.transform(img)
        return img, target


# --- the baseline ---------------------------------------------------------------------------------

def dcgan_config(overrides: Optional[dict] = None) -> TrainConfig:
    """gankit's `dcgan` config (its registry defaults); only the architecture keys are used here."""
    cfg = dict(MODELS.get("dcgan").defaults)
    cfg.update(overrides or {})
    cfg["model"] = "dcgan"
    return validate(TrainConfig(**cfg))


class NaiveDCGAN:
    """Tutorial-style DCGAN training of gankit's `dcgan` networks on uint8 images.

    x_uint8: (N, H, W) or (N, C, H, W) uint8 images (tensor or array). cfg: a TrainConfig whose
    architecture keys (width, depth, z_dim, d_norm) shape the networks; default gankit's `dcgan`.
    The training recipe is fixed (see the module docstring); other config keys are ignored.
    """

    def __init__(self, x_uint8, seed: int = 0, batch_size: int = 64, num_workers: int = 0,
                 device: str = "cpu", cfg: Optional[TrainConfig] = None, labels=None):
        x = torch.as_tensor(x_uint8)
        if x.dim() == 3:
            x = x[:, None]
        self.cfg = cfg or dcgan_config()
        self.nz = self.cfg.z_dim
        self.device = torch.device(device)
        c = x.shape[1]
        transform = Compose([ToTensor(), Normalize((0.5,) * c, (0.5,) * c)])
        self.dataset = ImageDataset(x, labels, transform=transform)
        # the shuffle order comes from the global RNG, as in the tutorials
        self.loader = torch.utils.data.DataLoader(self.dataset, batch_size=batch_size, shuffle=True,
                                                  num_workers=num_workers)
        torch.manual_seed(seed)  # same seed, same initial weights as `gankit train --seed`
        info = DataInfo("naive", "image", list(x.shape[1:]), 0)
        nets = MODELS.get(self.cfg.model).make(self.cfg, info).networks
        netG, netD = nets["G"], nets["D"]
        self.netG, self.netD = netG.to(self.device), netD.to(self.device)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.real_label, self.fake_label = 1.0, 0.0
        self.G_losses: list[float] = []
        self.D_losses: list[float] = []
        self.images_seen, self.iters, self.epochs = 0, 0, 0
        self._batches = self._forever()

    @property
    def generator(self) -> nn.Module:
        return self.netG

    @property
    def discriminator(self) -> nn.Module:
        return self.netD

    def _forever(self):
        while True:
            for data in self.loader:
                yield data
            self.epochs += 1

    def train_step(self, data) -> None:
        """One tutorial iteration: update D with a real and a fake batch, then G."""
        netD, netG, criterion = self.netD, self.netG, self.criterion
        netG.train()
        netD.train()
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = data[0].to(self.device)
        b_size = real_cpu.size(0)
        output = netD(real_cpu).view(-1)
        label = torch.full(output.shape, self.real_label, dtype=torch.float, device=self.device)
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = torch.randn(b_size, self.nz, device=self.device)
        fake = netG(noise)
        label.fill_(self.fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        # (2) Update G: maximize log(D(G(z))), on a new z
        netG.zero_grad()
        noise = torch.randn(b_size, self.nz, device=self.device)
        fake = netG(noise)
        output = netD(fake).view(-1)
        label = torch.full(output.shape, self.real_label, dtype=torch.float, device=self.device)
        errG = criterion(output, label)
        errG.backward()
        self.optimizerG.step()
        # the tutorial keeps the loss history every iteration
        self.G_losses.append(errG.item())
        self.D_losses.append(errD.item())
        self.images_seen += b_size
        self.iters += 1

    def train(self, seconds: Optional[float] = None, images: Optional[int] = None) -> dict:
        """Train until `seconds` of wall time or `images` real images (whichever comes first;
        at least one batch). Returns {"images", "seconds", "img_per_s", "iters", "epochs",
        "d_loss", "g_loss"} for this call; img/s counts real images shown to D, data loading
        included (as gankit counts them)."""
        if seconds is None and images is None:
            raise ValueError("give seconds or images")
        start_images, start_iters = self.images_seen, self.iters
        t0 = time.perf_counter()
        while True:
            self.train_step(next(self._batches))
            done = self.images_seen - start_images
            if images is not None and done >= images:
                break
            if seconds is not None and time.perf_counter() - t0 >= seconds:
                break
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        done = self.images_seen - start_images
        return {"images": done, "seconds": dt, "img_per_s": done / dt, "iters": self.iters - start_iters,
                "epochs": self.images_seen / len(self.dataset), "d_loss": self.D_losses[-1],
                "g_loss": self.G_losses[-1]}

    @torch.no_grad()
    def samples(self, n: int, seed: int = 0) -> np.ndarray:
        """n samples as uint8 (N, H, W) (grey) or (N, H, W, C), the `gankit sample` .npz layout.
        G in eval mode (batch-norm running statistics), as gankit samples its own generators."""
        from gankit.sampling import to_npz_images

        was = self.netG.training
        self.netG.eval()
        try:
            g = torch.Generator().manual_seed(seed)  # as gankit.sampling.draw takes its latents
            x = torch.cat([self.netG(torch.randn(min(500, n - i), self.nz, generator=g).to(self.device)).float().cpu()
                           for i in range(0, n, 500)])
        finally:
            self.netG.train(was)
        return to_npz_images(x)

    def save(self, out: Path, stats: Optional[dict] = None) -> None:
        """out/generator.safetensors (G's state dict) and out/naive.json (architecture, stats)."""
        from safetensors.torch import save_file

        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.netG.state_dict().items()},
                  str(out / "generator.safetensors"))
        meta = {"config": self.cfg.to_dict(), "shape": list(self.dataset[0][0].shape),
                "images": self.images_seen, "iters": self.iters, "stats": stats or {}}
        (out / "naive.json").write_text(json.dumps(meta, indent=1))

    def load(self, out: Path) -> None:
        from safetensors.torch import load_file

        self.netG.load_state_dict(load_file(str(out / "generator.safetensors")))


def load_mnist_like(dataset: str, data_dir: Optional[str]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The training split as uint8 (N, C, H, W) and labels, through gankit's file readers."""
    from gankit.data import DataSpec, load_dataset

    d = load_dataset(dataset, DataSpec(data_dir=Path(data_dir) if data_dir else None, download=False))
    return d.x, d.labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seconds", type=float, default=None, help="wall-time budget in seconds")
    ap.add_argument("--minutes", type=float, default=None, help="wall-time budget in minutes")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader num_workers (default 0)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed iterations before the budget (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="save G here (generator.safetensors, naive.json)")
    ap.add_argument("--load", default=None, help="load G from this --out folder instead of training")
    ap.add_argument("--samples", default=None, help="write this many (--n) samples to this .npz")
    ap.add_argument("--n", type=int, default=10000)
    args = ap.parse_args()

    try:
        x, labels = load_mnist_like(args.dataset, args.data_dir)
    except UserError as e:
        sys.exit(f"naive_dcgan: error: {e}")
    naive = NaiveDCGAN(x, seed=args.seed, batch_size=args.batch, num_workers=args.workers,
                       device=args.device, labels=labels)
    params = sum(p.numel() for p in naive.netG.parameters()) + sum(p.numel() for p in naive.netD.parameters())
    print(f"naive dcgan: torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{args.dataset} {tuple(x.shape[1:])} x {len(x)}, batch {args.batch}, workers {args.workers}, "
          f"params {params:,}, fp32")
    stats: dict = {}
    if args.load:
        naive.load(Path(args.load))
        print(f"loaded G from {args.load}")
    else:
        seconds = (args.seconds or 0) + (args.minutes or 0) * 60 or 20.0
        if args.warmup:  # the first iterations build oneDNN kernels; they train too, untimed
            w = naive.train(images=args.warmup * args.batch)
            print(f"warm-up: {w['iters']} iterations in {w['seconds']:.1f} s (not in the img/s below)")
        stats = naive.train(seconds=seconds)
        print(f"trained {stats['seconds']:.1f} s: {stats['images']} images ({stats['epochs']:.2f} epochs, "
              f"{stats['iters']} iterations) at {stats['img_per_s']:.0f} img/s; "
              f"last d_loss {stats['d_loss']:.4f} g_loss {stats['g_loss']:.4f}")
        if args.out:
            naive.save(Path(args.out), stats)
            print(f"saved G to {Path(args.out) / 'generator.safetensors'}")
    if args.samples:
        imgs = naive.samples(args.n, seed=args.seed)
        np.savez_compressed(args.samples, images=imgs)
        print(f"wrote {len(imgs)} samples {imgs.shape[1:]} uint8 to {args.samples}; score with "
              f"`gankit eval --samples {args.samples} --dataset {args.dataset}`")


if __name__ == "__main__":
    from entry import run

    run(main)
