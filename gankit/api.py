"""The Python API: a trained run, loaded from its folder, ready to sample and interpolate.

    import gankit
    m = gankit.load("runs/cdcgan-mnist-001")
    sevens = m.sample(16, label=7)            # uint8 (16, 28, 28)
    x = m.sample(64, seed=1, as_tensor=True)  # float (64, 1, 28, 28) in [-1, 1]
    walk = m.interpolate(rows=4, steps=8)     # uint8 (4, 8, 28, 28)
    p = m.project(images)                     # latents whose images match given ones (p.z, p.images)
    r = m.arithmetic("class=7,thick", "class=7,thin", "class=1,thin")   # latent a - b + c

    s = gankit.load("runs/ssgan-mnist-001")   # the semi-supervised GAN's D is a classifier:
    digits = s.classify(images)               # int64 (N,); classify(images, logits=True): (N, 10)

    v = gankit.load("runs/vae-mnist-001")     # models with an encoder (vae, autoencoder) also:
    z = v.encode(images)                      # (N, z_dim); the vae: posterior means
    x = v.decode(z)                           # uint8 (N, 28, 28), the decoder's mean images
    walks = v.interpolate_between(a, b, 8)    # uint8 (N, 8, 28, 28), encode(a) -> encode(b)

Only the run folder is read (config.json and a checkpoint), never the training command line, so a
folder copied to another machine works the same. Weights are read with safetensors (no pickles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from gankit.data.base import DataInfo, to_uint8
from gankit.errors import UserError
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from gankit.training import checkpoint_schema

LabelArg = Union[None, int, str, torch.Tensor, np.ndarray, list]
PROJECT_OPTIONS = {"lr", "noise", "feature_weight", "starts", "snapshots"}  # Model.project's **options


class Model:
    """A trained model: its config, data description, algorithm and networks (the EMA weights
    for sampling, where the run kept them). Returned by `gankit.load`."""

    def __init__(self, algo, nets: dict[str, nn.Module], cfg, info: DataInfo, meta: dict):
        self.algo, self.nets, self.cfg, self.info, self.meta = algo, nets, cfg, info, meta

    # --- what it is
    @property
    def conditional(self) -> bool:
        """Whether samples can be asked for by class label."""
        return self.algo.conditional

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def device(self) -> torch.device:
        return next(self.nets[self.algo.sampler].parameters()).device

    def __repr__(self) -> str:
        return (f"<gankit model {self.cfg.model} on {self.cfg.dataset}, step {self.meta.get('step')}, "
                f"{self.meta['checkpoint']} checkpoint{', EMA' if self.meta['ema'] else ''}>")

    # --- sampling
    def labels(self, n: int, label: LabelArg = None) -> Optional[torch.Tensor]:
        """The labels for n samples: None (unconditional, or "all" cycling 0..K-1 for a conditional
        model), one class for every sample, or one per sample."""
        from gankit.sampling import labels_for

        if label is None or isinstance(label, str):
            if isinstance(label, str) and label != "all":
                raise UserError(f"label must be a class number, a list of them or 'all', got {label!r}")
            return labels_for(n, self.info, None, self.conditional, self.conditional)
        if isinstance(label, int):
            return labels_for(n, self.info, label, False, self.conditional)
        if not self.conditional:
            raise UserError("this model is not class-conditional; drop label=")
        t = torch.as_tensor(np.asarray(label), dtype=torch.int64).reshape(-1)
        if len(t) != n or t.min() < 0 or t.max() >= self.num_classes:
            raise UserError(f"labels must be {n} class numbers in 0..{self.num_classes - 1}")
        return t

    def sample(self, n: int = 64, seed: int = 0, label: LabelArg = None, code: Optional[dict] = None,
               as_tensor: bool = False) -> Union[np.ndarray, torch.Tensor]:
        """n samples. Images: uint8 (N, H, W) grey or (N, H, W, C) colour, as in a samples .npz;
        with as_tensor, float (N, C, H, W) in [-1, 1]. Points: float32 (N, D) either way.
        code: latent codes to fix for every sample (InfoGAN: {"cat": 3, "c1": 0.5})."""
        from gankit.sampling import to_npz_images

        x = self.draw(n, seed, label, code)[0]
        if as_tensor or self.info.kind != "image":
            return x if as_tensor else x.numpy().astype(np.float32)
        return to_npz_images(x)

    def draw(self, n: int, seed: int = 0, label: LabelArg = None, code: Optional[dict] = None):
        """(model-range samples as `sample(as_tensor=True)` gives them, the latents' categorical
        codes int64 (n,) or None): what `gankit sample` writes."""
        from gankit.sampling import draw

        if n <= 0:
            raise UserError("n must be positive")
        return draw(self.algo, self.nets, n, seed, self.labels(n, label), code, with_codes=True)

    def codes(self, n: int, seed: int = 0, code: Optional[dict] = None) -> Optional[np.ndarray]:
        """The categorical codes (int64 (n,)) of `sample(n, seed, code=code)`, or None for a model
        without latent codes."""
        c = self.draw(n, seed, None, code)[1]
        return None if c is None else c.numpy()

    @torch.no_grad()
    def encode(self, images: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
        """Images -> latents (N, z_dim), for models with an encoder (vae: the posterior mean).
        images: uint8 (N, H, W) / (N, H, W, C) as `sample` returns them, or float (N, C, H, W)
        in [-1, 1]."""
        self._needs_encoder("encode")
        x = self._images(images)
        return torch.cat([self.algo.encode(self.nets, x[i:i + 500].to(self.device)).float().cpu()
                          for i in range(0, len(x), 500)])

    @torch.no_grad()
    def interpolate_between(self, a: Union[np.ndarray, torch.Tensor], b: Union[np.ndarray, torch.Tensor],
                            steps: int = 10, slerp: bool = False,
                            as_tensor: bool = False) -> Union[np.ndarray, torch.Tensor]:
        """Walks between the codes of real images, for models with an encoder: row i decodes
        `steps` codes from encode(a[i]) to encode(b[i]), ends included. a, b: N images each, as
        `encode` takes them. uint8 (N, steps, H, W[, C]), or with as_tensor float (N * steps, C, H, W)."""
        self._needs_encoder("interpolate between real images")
        xa, xb = self._images(a), self._images(b)
        if len(xa) != len(xb) or len(xa) == 0:
            raise UserError(f"a and b must hold the same number of images (at least one), got {len(xa)} and {len(xb)}")
        if steps < 2:
            raise UserError("steps must be at least 2")
        x = torch.cat([self.algo.interpolate_encoded(self.nets, xa[i:i + 100].to(self.device),
                                                     xb[i:i + 100].to(self.device), steps, slerp).float().cpu()
                       for i in range(0, len(xa), 100)])
        return x if as_tensor else _walks(x, len(xa), steps)

    def project(self, images: Union[np.ndarray, torch.Tensor], steps: int = 500, label: Optional[int] = None,
                seed: int = 0, data_dir: Optional[str] = None, **options):
        """Latents whose generated images are closest to `images` (as `encode` takes them), found
        as the StyleGAN2 projector does (gankit/projection.py): a `projection.Projection` with the
        latents, the projected images, per-image distances and the progress. options: lr, noise,
        feature_weight, starts, snapshots."""
        from gankit.projection import classifier_distance, project

        if self.info.kind != "image":
            raise UserError("projection takes images; this run was trained on points")
        if label is not None and not self.conditional:
            raise UserError("this model is not class-conditional; drop the label")
        if label is not None and not 0 <= label < self.num_classes:
            raise UserError(f"label must be in 0..{self.num_classes - 1}")
        unknown = set(options) - PROJECT_OPTIONS
        if unknown:
            raise UserError(f"unknown projection option {', '.join(sorted(unknown))}; it takes "
                            f"{', '.join(sorted(PROJECT_OPTIONS))}")
        x = self._images(images)
        distance, why_not = None, ""
        try:
            from gankit.metrics.features import make_extractor

            ex = make_extractor("classifier", self.cfg.dataset, "image", data_dir or self.cfg.data_dir,
                                str(self.device), image_size=self.info.shape[-1], channels=self.info.shape[0])
            distance = classifier_distance(ex.model)
        except UserError as e:  # no domain classifier (or its data is not there): pixels alone, saying why
            why_not = f": {getattr(e, 'reason', e)}"  # without eval's --extractor hint
        G = self.nets[self.algo.sampler]
        was = [p.requires_grad for p in G.parameters()]
        for p in G.parameters():
            p.requires_grad_(False)
        try:
            gen = lambda z, lab: self.algo.generate(self.nets, z, lab)
            out = project(gen, self.algo.latents, x, distance, steps, seed=seed,
                          num_classes=self.num_classes if self.conditional else 0, label=label,
                          device=self.device, **options)
        finally:
            for p, w in zip(G.parameters(), was):
                p.requires_grad_(w)
        out.feature_space = "domain classifier" if distance is not None else f"none (pixels only{why_not})"
        return out

    def arithmetic(self, a: str, b: str, c: str, k: int = 8, pool: int = 2000, seed: int = 0,
                   noise: float = 0.25, data_dir: Optional[str] = None, rescale: bool = True):
        """Latent vector arithmetic a - b + c over groups of samples (gankit/arithmetic.py), each a
        spec like "class=7,thick" or "slant=left": an `arithmetic.Arithmetic` (its `grid()` is
        what `gankit arithmetic` writes). rescale=False: the mean latents as they are, not at a
        sample's typical length."""
        from gankit.arithmetic import arithmetic

        return arithmetic(self, [a, b, c], k, pool, seed, noise, data_dir, rescale)

    @torch.no_grad()
    def classify(self, images: Union[np.ndarray, torch.Tensor], logits: bool = False) -> torch.Tensor:
        """For a model whose D is a classifier (ssgan): D's class for each image, int64 (N,), or
        with logits its K class logits, float (N, K). D runs without its training noise, with the
        weights loaded (the EMA where the run kept one, unless loaded with ema=False). images as
        `encode` takes them."""
        out = self.algo.classify(self.nets, self._images(images))
        return out if logits else out.argmax(1)

    def discriminator(self) -> nn.Module:
        """The run's D, for models with an unconditional one: its raw weights, or the EMA of them
        where the model keeps one (ssgan) and the run was loaded with ema=True."""
        if not self.algo.has_discriminator or "D" not in self.nets:
            raise UserError(f"model {self.cfg.model} has no discriminator, so it has no D features")
        if self.conditional:
            raise UserError(f"model {self.cfg.model}'s D needs class labels; D features take an "
                            "unconditional D (gan, dcgan, wgan-gp, lsgan, hinge, infogan, ...)")
        return self.nets["D"]

    def d_features(self, images: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
        """D as a feature extractor (Radford 2015; gankit/dfeatures.py): every activation layer,
        conv maps max-pooled to 4x4, concatenated: float (N, F). images as `encode` takes them."""
        from gankit.dfeatures import layer_features

        return layer_features(self.discriminator(), self._images(images))

    def _needs_encoder(self, what: str) -> None:
        if not self.algo.encodes:
            raise UserError(f"model {self.cfg.model} has no encoder, so it cannot {what}; "
                            "models with one: vae, autoencoder")

    def _images(self, images: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
        """uint8 (N, H, W) / (N, H, W, C), or float (N, C, H, W) in [-1, 1] -> float (N, C, H, W)
        in [-1, 1] of the training data's shape."""
        from gankit.data.base import to_model_range

        x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
        if x.dtype == torch.uint8:
            if x.dim() not in (3, 4):
                raise UserError(f"uint8 images must be (N, H, W) or (N, H, W, C), got shape {tuple(x.shape)}")
            x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)
            x = to_model_range(x)
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.info.shape):
            raise UserError(f"images must be {tuple(self.info.shape)} (C, H, W) like the training data, "
                            f"got {tuple(x.shape[1:])}")
        if not len(x):
            raise UserError("no images given (an empty batch)")
        return x.float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor, as_tensor: bool = False) -> Union[np.ndarray, torch.Tensor]:
        """Latents (N, z_dim) -> images (uint8 like `sample`, or float with as_tensor)."""
        from gankit.sampling import to_npz_images

        z = torch.as_tensor(np.asarray(z)) if not isinstance(z, torch.Tensor) else z
        if z.dim() != 2 or (self.algo.encodes and z.shape[1] != self.cfg.z_dim):
            raise UserError(f"latents must be (N, {self.cfg.z_dim}), got shape {tuple(z.shape)}")
        x = self.algo.decode(self.nets, z.float().to(self.device)).float().cpu()
        return x if as_tensor else to_npz_images(x)

    @torch.no_grad()
    def generate(self, z: Union[np.ndarray, torch.Tensor], labels: LabelArg = None) -> torch.Tensor:
        """The networks on given latents (N, width), the width of `algo.latents` (z_dim, plus the
        codes of InfoGAN), and labels as `labels` takes them (a conditional model's default: 0..K-1
        cycling) or, for a conditional model, soft one-hot rows (N, K) of floats (a class between
        two, as interpolation and arithmetic use): model-range floats on the CPU."""
        z = torch.as_tensor(np.asarray(z)) if not isinstance(z, torch.Tensor) else z
        width = self.algo.latents(1, torch.Generator().manual_seed(0)).shape[1]
        if z.dim() != 2 or z.shape[1] != width or not len(z):
            raise UserError(f"latents must be (N, {width}) with N >= 1, got shape {tuple(z.shape)}")
        soft = isinstance(labels, torch.Tensor) and labels.is_floating_point() and labels.dim() == 2
        if soft and (not self.conditional or tuple(labels.shape) != (len(z), self.num_classes)):
            raise UserError(f"soft labels must be ({len(z)}, {self.num_classes}) rows for a conditional model, "
                            f"got shape {tuple(labels.shape)}")
        lab = labels.float() if soft else self.labels(len(z), labels)
        return self.algo.generate(self.nets, z.float().to(self.device),
                                  None if lab is None else lab.to(self.device)).float().cpu()

    @torch.no_grad()
    def interpolate(self, rows: int = 8, steps: int = 10, slerp: bool = False, seed: int = 0,
                    as_tensor: bool = False) -> Union[np.ndarray, torch.Tensor]:
        """rows walks of `steps` images between random latents (conditional models: the first half
        of the rows walk between classes). uint8 (rows, steps, H, W[, C]), or with as_tensor
        float (rows * steps, C, H, W)."""
        if self.info.kind != "image":
            raise UserError("interpolate draws images; this run was trained on points")
        if steps < 2 or rows < 1:
            raise UserError("steps must be at least 2 and rows at least 1")
        g = torch.Generator().manual_seed(seed)
        x = self.algo.interpolate(self.nets, rows, steps, slerp, g).float().cpu()
        return x if as_tensor else _walks(x, rows, steps)


    def evaluate(self, n: int = 10000, seed: int = 0, extractor: str = "classifier",
                 data_dir: Optional[str] = None, memorization: bool = True, ppl_n: int = 0):
        """Every score of `gankit eval` for n samples against the test split of the training
        dataset: (result dict, the metrics.evaluate.Reference, the samples scored). ppl_n: latent
        pairs for the perceptual path length (0: not computed)."""
        from gankit.data.base import to_model_range
        from gankit.metrics.evaluate import evaluate as score, reference

        if n < 10:
            raise UserError("n must be at least 10")
        cfg, info = self.cfg, self.info
        ref = reference(cfg.dataset, data_dir or cfg.data_dir, cfg.image_size, cfg.channels,
                        extractor, str(self.device))
        labels = self.labels(n)  # conditional: 0..K-1 cycling
        fake = self.sample(n, seed, labels, as_tensor=True)
        x = to_uint8(fake) if info.kind == "image" else fake
        result = score(ref, x, labels, seed, memorization=memorization)
        result["protocol"].update(checkpoint=self.meta["checkpoint"], step=self.meta.get("step"),
                                  model=cfg.model, generator="EMA" if self.meta["ema"] else "raw")
        real = to_model_range(ref.test_x) if info.kind == "image" else ref.test_x
        d = self.algo.d_accuracy(self.nets, real, fake, ref.test_labels, labels)
        if d is not None:  # only where there is a D, at the threshold its objective sets
            threshold = d.pop("d_threshold", None)
            if threshold is None:
                result["protocol"]["d_accuracy_protocol"] = (f"not scored: D judges whole training batches of "
                                                             f"{cfg.batch_size}, more than the {n} samples")
            else:
                result["protocol"]["d_threshold"] = threshold
            result["scores"].update(d)
        own = self.algo.scores(self.nets, ref, self.device)  # InfoGAN's code accuracy, a VAE's likelihood
        if ppl_n:
            own.update(self.path_length(ppl_n, seed, ref))
        if "memorization" in result and ref.extractor.name.startswith("classifier"):
            result["memorization"]["latent_walks"] = self.latent_walks(ref, seed=seed)
        for key, value in own.items():
            (result["protocol"] if key.endswith("_protocol") else result["scores"])[key] = value
        return result, ref, x

    @torch.no_grad()
    def latent_walks(self, ref, walks: int = 32, steps: int = 32, seed: int = 0) -> dict:
        """Memorization by latent walks (gankit/metrics/walks.py): the model's own walks
        (`interpolate`, slerp), their step distances in the domain classifier's features against
        those of the walks' nearest training images."""
        from gankit.metrics.memorization import nearest, pixels
        from gankit.metrics.walks import walk_report

        x = to_uint8(self.interpolate(walks, steps, slerp=True, seed=seed, as_tensor=True))
        train = ref.train.x
        _, idx = nearest(pixels(x), pixels(train))
        fx = ref.extractor(x).features.reshape(walks, steps, -1)
        fn = ref.extractor(train[idx]).features.reshape(walks, steps, -1)
        return walk_report(fx, fn, idx.reshape(walks, steps))

    def path_length(self, n: int = 2000, seed: int = 0, ref=None) -> dict:
        """Perceptual path length (gankit/metrics/ppl.py) over n latent pairs: {"ppl_z": ...,
        "ppl_z_protocol": ...} (and "ppl_w" for a model with a mapping network). ref: the
        evaluation's Reference (its domain classifier); loaded when not given."""
        from gankit.metrics import ppl

        if n < 10:
            raise UserError("PPL needs at least 10 latent pairs")
        if ref is None:
            from gankit.metrics.evaluate import reference

            ref = reference(self.cfg.dataset, self.cfg.data_dir, self.cfg.image_size, self.cfg.channels,
                            "classifier", str(self.device))
        points = self.info.kind != "image"
        features = (lambda x: x.reshape(len(x), -1).float()) if points else ppl.classifier_features(ref.extractor)
        if features is None:
            return {"ppl_protocol": "not computed: PPL is measured in the domain classifier's features "
                                    "(run eval with --extractor classifier)"}
        spherical = len(self.algo.latent_parts()) == 1  # codes (InfoGAN) are not Gaussian: lerp
        labels = (lambda m: self.labels(m)) if self.conditional else None
        gen = lambda z, lab: self.generate(z, lab)
        out = ppl.path_length(gen, self.algo.latents, features, n, seed, labels, spherical)
        space = "in z, " + ("slerp" if spherical else "lerp (the latent has codes)")
        result = {"ppl_z": round(out["ppl"], 4), "ppl_z_protocol": ppl.protocol(n, space, points)}
        mapping, synthesis = (getattr(self.algo, name, None) for name in ("mapping", "synthesis"))
        if mapping is not None and synthesis is not None:  # models with a mapping network
            lat = lambda m, g: mapping(self.nets, self.algo.latents(m, g).to(self.device)).float().cpu()
            w = ppl.path_length(lambda z, lab: synthesis(self.nets, z.to(self.device), lab).float().cpu(),
                                lat, features, n, seed, labels, spherical=False)
            result["ppl_w"] = round(w["ppl"], 4)
        return result


def _walks(x: torch.Tensor, rows: int, steps: int) -> np.ndarray:
    """(rows * steps, C, H, W) model range -> uint8 (rows, steps, H, W) or (rows, steps, H, W, C)."""
    u = to_uint8(x)
    u = u[:, 0] if u.shape[1] == 1 else u.permute(0, 2, 3, 1)
    return u.reshape(rows, steps, *u.shape[1:]).numpy()


def evaluate_run(run_path: Union[str, Path], n: int = 10000, checkpoint: Optional[str] = None,
                 extractor: str = "classifier", data_dir: Optional[str] = None, device: str = "cpu",
                 seed: int = 0, memorization: bool = True, nearest: Optional[Path] = None,
                 ppl_n: int = 0) -> dict:
    """`gankit eval RUN` as a library call: scores the run, writes RUN/eval.json and (with the
    memorization check) the nearest-neighbour grid, RUN/nearest.png unless `nearest` says where.
    Returns the result written."""
    from gankit.files import write_json_atomic

    model = load(run_path, checkpoint, device)
    result, ref, x = model.evaluate(n, seed, extractor, data_dir, memorization, ppl_n)
    result["protocol"]["run"] = str(run_path)
    save_nearest(result, x, ref, nearest or Path(run_path) / "nearest.png")
    write_json_atomic(Path(run_path) / "eval.json", result)
    return result


def save_nearest(result: dict, x: torch.Tensor, ref, path: Path) -> None:
    """With a memorization check in `result`: the grid of the samples nearest to a training image
    beside those images, at `path`, named in the result."""
    if "memorization" not in result:
        return
    from gankit.metrics.memorization import pairs_grid
    from gankit.viz import save_grid

    save_grid(pairs_grid(x, ref.train.x, result["memorization"]["pairs"]), path, nrow=8)
    result["memorization"]["pairs_png"] = str(Path(path).resolve())  # found from any working folder


def default_checkpoint(run: RunFolder, algo=None) -> str:
    """`best` when the run kept one (training with eval_every) and its algorithm keeps one (ssgan
    runs of older gankit versions have one, but their product is the last D), else `last`."""
    keeps = getattr(algo, "keeps_best", True)
    return "best" if keeps and run.checkpoint("best").is_file() else "last"


def load(run_path: Union[str, Path], checkpoint: Optional[str] = None, device: str = "cpu",
         ema: bool = True) -> Model:
    """A trained run from its folder. checkpoint: "best" or "last" (default: best if the run kept
    one); ema=False uses the raw weights instead of their moving average."""
    from gankit.algorithms import build
    from gankit.device import resolve_device

    run = RunFolder.open(run_path)
    cfg, info = run.read_config()
    algo = build(cfg, info)
    which = checkpoint or default_checkpoint(run, algo)
    if which not in ("best", "last"):
        raise UserError(f"checkpoint must be best or last, got {which!r}")
    path = run.checkpoint(which)
    tensors, meta = ckpt.load(path)
    checkpoint_schema.check(tensors, meta, algo, cfg, checkpoint_schema.built_optimizers(algo, cfg), str(path))
    kept = ckpt.load_algorithm(algo, tensors, meta, use_ema=ema)
    dev = resolve_device(device)
    nets = {name: net.to(dev) for name, net in algo.networks.items()}
    if algo.sampler is not None:
        nets[algo.sampler].eval()
    return Model(algo, nets, cfg, info, {**meta, "checkpoint": which, "ema": bool(kept)})
