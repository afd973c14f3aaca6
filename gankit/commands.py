"""What each command-line verb does, on already-parsed arguments."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from gankit.config import SEED_MAX
from gankit.errors import UserError


def _check_writable_file(path: str, suffix: str, flag: str = "--out") -> Path:
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise UserError(f"{flag} must end in {suffix} (got {path})")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"folder {parent} does not exist; create it or choose another {flag}")
    if not os.access(parent, os.W_OK):
        raise UserError(f"folder {parent} is not writable; choose another {flag}")
    return p


def _in_range(flag: str, value: int, low: int, high: int, why: str) -> None:
    if not low <= value <= high:
        raise UserError(f"{flag} must be in {low}..{high:,}, got {value:,}: {why}")


def _eval_n(n: int) -> None:
    _in_range("--n", n, 10, 100_000, "FID's usual 50,000 samples are plenty, and each is drawn and scored")


def _seed(args: argparse.Namespace) -> None:
    for seed in getattr(args, "seeds", None) or [args.seed]:
        _in_range("--seeds" if hasattr(args, "seeds") else "--seed", seed, 0, SEED_MAX,
                  "the range of seeds gankit's random generators take")


def train(args: argparse.Namespace) -> None:
    from gankit.algorithms import MODELS
    from gankit.config import build_config
    from gankit.runs import RunFolder, default_out
    from gankit.training import distributed, tensorboard
    from gankit.training.loop import Trainer

    if args.resume:
        return _resume(args)
    model = args.model or "dcgan"
    spec = MODELS.get(model)
    flags = {"dataset": args.dataset, "data_dir": args.data_dir, "epochs": args.epochs,
             "minutes": args.minutes, "out": args.out, "seed": args.seed,
             "eval_every": getattr(args, "eval_every", None), "keep": getattr(args, "keep", None),
             "on_divergence": getattr(args, "on_divergence", None),
             "tensorboard": getattr(args, "tensorboard", None), "preset": getattr(args, "preset", None),
             "threads": getattr(args, "threads", None), **_model_flags(spec, args)}
    cfg = build_config(model, spec.defaults, args.config, args.set, flags, spec.dataset_defaults,
                       spec.algorithm.Options, spec.paper)
    tensorboard.check(cfg)  # "pip install tensorboard" before any data is loaded
    out = Path(cfg.out) if cfg.out else default_out(cfg.model, cfg.dataset)
    cfg.out = str(out)
    data = _training_data(cfg)
    if cfg.image_size is None and data.kind == "image":
        cfg.image_size = data.shape[-1]
    _fits(cfg, spec, data)  # a run that cannot fit is refused before anything is allocated
    # every shape/label mistake surfaces before a folder exists
    spec.make(cfg, data.info()).check_data(data.fields())
    dist = _torchrun(cfg, len(data))  # None alone; under torchrun, checked before the group starts

    def create():
        evaluator = _evaluator(cfg)
        _check_space(out)
        return evaluator, RunFolder.create(out, cfg, data.info(), {"preset": _preset_notes(spec, cfg)})
    try:
        # under torchrun rank 0 creates the folder (and holds its lock); the others wait for it
        evaluator, run = distributed.on_rank0_at_setup(dist, create) or (None, RunFolder(out))
        trainer = Trainer(cfg, data, run, spec, evaluator, dist)
        _announce(trainer, f"training {cfg.model} on {cfg.dataset} ({len(data)} images) into {out}")
        _train(trainer)
    finally:
        if dist is not None:
            dist.close()


# flags that set one model's own key (its algorithm's Options): flag -> key
MODEL_FLAGS = {"labels_per_class": "--labels-per-class"}


def _model_flags(spec, args: argparse.Namespace) -> dict:
    """The model-key flags given, refused for a model without that key (one line naming who has it)."""
    from gankit.algorithms import MODELS
    from gankit.config import option_types

    given = {k: getattr(args, k, None) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    for key in given:
        if key not in option_types(spec.algorithm.Options):
            has = [name for name, s in MODELS if key in option_types(s.algorithm.Options)]
            raise UserError(f"{MODEL_FLAGS[key]} is for {', '.join(has)}; model {spec.name} does not take it")
    return given


def _resume(args: argparse.Namespace) -> None:
    from gankit.algorithms import MODELS
    from gankit.config import validate
    from gankit.runs import RunFolder
    from gankit.training import distributed, tensorboard
    from gankit.training.loop import Trainer

    extra = [name for name in ("model", "dataset", "data_dir", "out", "seed", "config", "eval_every", "keep", "on_divergence",
                               "preset", *MODEL_FLAGS)
             if getattr(args, name, None) is not None] + (["set"] if args.set else [])
    if extra:
        raise UserError(f"--resume continues the saved config; drop {', '.join('--' + e.replace('_', '-') for e in extra)} "
                        "(only --epochs, --minutes or --threads may change, and --tensorboard may be turned on)")
    run = RunFolder.open(args.resume)
    torchrun = distributed.from_env() is not None  # then rank 0 takes the folder below, once the group is up

    def take():
        run.lock()  # before anything is read: another process may be writing here
        run.remove_stale_temps()  # what a kill -9 in the middle of a write left behind
    if not torchrun:
        take()
    cfg, info = run.read_config()
    new_budget = args.epochs is not None or args.minutes is not None
    if new_budget:
        # budgets are totals for the whole run; the new one replaces every limit the run had
        # (epochs, minutes, max_steps), or an old limit already reached would end it at once
        cfg.epochs, cfg.minutes, cfg.max_steps = args.epochs, args.minutes, None
        validate(cfg)
    # TensorBoard only logs what training computes anyway, so a resume may turn it on
    tensorboard_on = bool(getattr(args, "tensorboard", None)) and not cfg.tensorboard
    cfg.tensorboard = cfg.tensorboard or tensorboard_on
    tensorboard.check(cfg)
    # the machine a run continues on may have other cores; the same math, though float sums may
    # then round differently, so the continuation is exact only at the saved thread count
    new_threads = getattr(args, "threads", None) is not None and args.threads != cfg.threads
    if new_threads:
        cfg.threads = args.threads
        validate(cfg)
    rewrite = new_budget or tensorboard_on or new_threads
    if rewrite and not torchrun:
        run.write_config(cfg, info)
    data = _training_data(cfg)
    if data.info().shape != info.shape or data.info().num_classes != info.num_classes:
        raise UserError(f"the dataset now loads as {data.info().shape} with {data.info().num_classes} "
                        f"classes, but the run was trained on {info.shape}; point --data-dir at the same data")
    _fits(cfg, MODELS.get(cfg.model), data)
    dist = _torchrun(cfg, len(data))

    def take_and_evaluator():
        take()
        if rewrite:
            run.write_config(cfg, info)
        return _evaluator(cfg)
    try:
        evaluator = distributed.on_rank0_at_setup(dist, take_and_evaluator) if torchrun else _evaluator(cfg)
        trainer = Trainer(cfg, data, run, MODELS.get(cfg.model), evaluator, dist)
        if run.checkpoint().is_file():  # every rank loads it
            trainer.restore(run.checkpoint())
            trainer.run.truncate_metrics(trainer.step)
        else:  # killed before its first checkpoint: it starts over, and so do its metrics
            trainer.run.truncate_metrics(0)
        _announce(trainer, f"resuming {run.path} at step {trainer.step}")
        _train(trainer)
    finally:
        if dist is not None:
            dist.close()


def _fits(cfg, spec, data) -> None:
    from gankit.device import resolve_device
    from gankit.training import memory

    memory.check(cfg, spec, data.info(), len(data), resolve_device(cfg.device))


def _training_data(cfg):
    """The train split as the config describes it (a fresh run and a resume load it alike)."""
    return _data(cfg, "train")


def _data(cfg, split: str, data_dir=None):
    """A split of the config's dataset at its image size and channels (data_dir: another folder)."""
    from gankit.data import DataSpec, load_dataset

    folder = data_dir or cfg.data_dir
    return load_dataset(cfg.dataset, DataSpec(data_dir=Path(folder) if folder else None, split=split,
                                              image_size=cfg.image_size, channels=cfg.channels))


def _evaluator(cfg):
    """The reference for `eval_every` (None when off), built before anything is written."""
    if not cfg.eval_every:
        return None
    from gankit.training.loop import eval_reference

    return eval_reference(cfg)


def _torchrun(cfg, n: int):
    """Under torchrun (WORLD_SIZE > 1): this rank's Dist, its config checked for N processes and
    then its process group started; None for a lone process."""
    from gankit.training import distributed

    dist = distributed.from_env()
    if dist is not None:
        distributed.check(cfg, dist, n)
        dist.start(dist.resolve_device(cfg.device))
    return dist


def _announce(trainer, line: str) -> None:
    from gankit.training import distributed

    batch = f"batch {trainer.sampler.bs}"
    if trainer.dist is not None:
        batch += f" = {trainer.dist.world_size} processes x {trainer.sampler.bs // trainer.dist.world_size}"
    head = f"{line}  [{trainer.device.type}, {trainer.precision}, {batch}, {_budget_text(trainer.budget)}]"
    recipe = f"{trainer.cfg.model}: {trainer.algo.describe()}"
    lines = [head, recipe] + _preset_lines(trainer.cfg)
    for text in lines:
        trainer.run.log(text)
    if distributed.is_rank0(trainer.dist):
        for text in lines:
            print(text, flush=True)


def _preset_lines(cfg) -> list[str]:
    """Which preset the run uses and what gankit's defaults add to the paper's (the banner)."""
    from gankit.algorithms import MODELS

    return MODELS.get(cfg.model).preset_lines(cfg.preset, cfg.dataset)


def _preset_notes(spec, cfg) -> dict:
    """config.json's "preset": the preset, the paper's settings, and what gankit's defaults change
    on top of them (key: [gankit's value, the paper's])."""
    return {"name": cfg.preset, "paper": spec.paper_note or None, "paper_settings": spec.paper,
            "gankit_adds": {k: list(v) for k, v in spec.gankit_adds(cfg.dataset).items()},
            "paper_networks": spec.paper_networks, "in_words": spec.preset_lines(cfg.preset, cfg.dataset)}


def _budget_text(b) -> str:
    parts = [f"{b.epochs:g} epochs"] if b.epochs != float("inf") else []
    parts += [f"{b.max_steps} steps"] if b.max_steps else []
    parts += [f"{b.minutes:g} minutes"] if b.minutes else []
    return "stop at " + " or ".join(parts)


def _train(trainer) -> None:
    from gankit.training import checkpoint as ckpt, distributed, interrupt, memory

    run = trainer.run
    try:
        reason = trainer.train()
    except (MemoryError, RuntimeError) as e:
        if not memory.is_out_of_memory(e):
            raise
        last = ckpt.read_meta(run.checkpoint())
        kept = f"checkpoints/last.safetensors keeps step {last['step']}" if last else "no checkpoint was written"
        raise memory.out_of_memory_error(trainer.cfg, trainer.step, kept) from None
    except KeyboardInterrupt:
        if distributed.is_rank0(trainer.dist):
            last = ckpt.read_meta(run.checkpoint())  # what is on disk, whatever the interrupt hit
            kept = f"checkpoint saved at step {last['step']}" if last else "no checkpoint was written yet"
            print(f"interrupted; {kept}. Continue with: gankit train --resume {run.path}", file=sys.stderr)
        sys.exit(interrupt.exit_code(trainer.stopped_by))
    finally:
        run.unlock()
    if not distributed.is_rank0(trainer.dist):
        return
    print(f"done ({reason}). Samples: {run.samples_dir}/  curves: {run.losses_png}  "
          f"checkpoint: {run.checkpoint()}")


def _check_space(out: Path) -> None:
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if free < 200 * 2**20:
        raise UserError(f"only {free // 2**20} MiB free under {probe}; free some space or choose another --out")


def sample(args: argparse.Namespace) -> None:
    from gankit.api import load
    from gankit.files import atomic_path
    from gankit.sampling import labels_for, parse_code

    out = _check_writable_file(args.out, ".npz")
    grid = _check_writable_file(args.grid, ".png", "--grid") if args.grid else None
    _in_range("--n", args.n, 1, 1_000_000, "the samples are held in memory and written as one file")
    _seed(args)
    model = load(args.run, args.checkpoint, args.device, ema=not args.no_ema)
    labels = labels_for(args.n, model.info, args.label, args.labels == "all", model.conditional)
    code = parse_code(args.code) if args.code else None
    x, codes = model.draw(args.n, args.seed, labels, code)
    if model.info.kind == "points":
        arrays = {"points": x.numpy().astype(np.float32)}
    else:
        from gankit.sampling import to_npz_images
        arrays = {"images": to_npz_images(x)}
    if labels is not None:
        arrays["labels"] = labels.numpy().astype(np.int64)
    if codes is not None:  # InfoGAN: each sample's categorical code
        arrays["codes"] = codes.numpy().astype(np.int64)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    msg = f"wrote {args.n} samples to {out}"
    if grid:
        if model.info.kind == "points":
            from gankit.viz import plot_points
            plot_points(x, grid, title=f"{model.cfg.model} samples")
        else:
            from gankit.data.base import to_uint8
            from gankit.training.snapshots import grid_columns
            from gankit.viz import save_grid
            shown = x[:100]
            save_grid(to_uint8(shown), grid, nrow=grid_columns(len(shown), model.info) if labels is not None else None)
        msg += f" and a grid to {grid}"
    print(msg)


def interpolate(args: argparse.Namespace) -> None:
    from gankit.api import load
    from gankit.data.base import to_uint8
    from gankit.viz import save_grid

    out = _check_writable_file(args.out, ".png")
    _in_range("--steps", args.steps, 2, 1000, "a row of the picture has one image per step")
    _in_range("--rows", args.rows, 1, 1000, "the picture has one row per walk")
    _seed(args)
    if args.data_dir and not args.real:
        raise UserError("--data-dir is for --real (the test images to encode); drop it")
    model = load(args.run, args.checkpoint, args.device)
    if args.real:
        return _interpolate_real(args, model, out)
    x = model.interpolate(args.rows, args.steps, args.slerp, args.seed, as_tensor=True)
    save_grid(to_uint8(x), out, nrow=args.steps)
    print(f"wrote {args.rows} rows of {args.steps} interpolation steps to {out}")


def _interpolate_real(args: argparse.Namespace, model, out: Path) -> None:
    """Rows that walk between the codes of two test images, the images themselves at both ends."""
    import torch

    from gankit.data.base import to_model_range, to_uint8
    from gankit.latent import framed_walks
    from gankit.viz import save_grid

    if not model.algo.encodes:
        raise UserError(f"--real needs a model with an encoder (vae, autoencoder); {model.cfg.model} "
                        "has none, so drop --real")
    cfg = model.cfg
    test = _data(cfg, "test", args.data_dir)
    rows = min(args.rows, len(test) // 2)
    if rows < 1:
        raise UserError(f"the test split of {cfg.dataset} has fewer than two images")
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))[:2 * rows]
    a, b = to_model_range(test.x[idx[:rows]]), to_model_range(test.x[idx[rows:]])
    walk = model.interpolate_between(a, b, args.steps, args.slerp, as_tensor=True)
    save_grid(to_uint8(framed_walks(a, walk, b)), out, nrow=args.steps + 2)
    print(f"wrote {rows} rows of {args.steps} steps between encoded {cfg.dataset} test images "
          f"(the images at both ends) to {out}")


def project(args: argparse.Namespace) -> None:
    """`gankit project RUN IMAGE... --out DIR`: latents, projected images and the progress strip."""
    import torch

    from gankit.api import load
    from gankit.data.base import to_uint8
    from gankit.files import atomic_path
    from gankit.projection import read_image
    from gankit.viz import save_grid

    _in_range("--steps", args.steps, 1, 100_000, "each step runs G and the classifier forward and back")
    _in_range("--starts", args.starts, 0, 10_000, "every start is drawn and scored before the optimisation")
    if args.feature_weight < 0:
        raise UserError("--feature-weight must be at least 0")
    _seed(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    model = load(args.run, args.checkpoint, args.device)
    if model.info.kind != "image":
        raise UserError("projection takes images; this run was trained on points")
    target = torch.stack([read_image(f, tuple(model.info.shape)) for f in args.images])
    p = model.project(target, args.steps, args.label, args.seed, args.data_dir,
                      feature_weight=args.feature_weight, starts=args.starts)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {out} ({e.strerror})") from None
    save_grid(to_uint8(p.images), out / "projected.png", nrow=min(8, len(p.images)))
    strip = torch.cat([target[:, None], p.progress.transpose(0, 1)], 1)  # (N, 1 + S, C, H, W)
    save_grid(to_uint8(strip.flatten(0, 1)), out / "progress.png", nrow=strip.shape[1])
    arrays = {"z": p.z.numpy(), "pixel_mse": p.pixel.numpy(), "feature_distance": p.feature.numpy(),
              "loss": p.loss.numpy(), "history": p.history.numpy(), "files": np.array([str(f) for f in args.images])}
    if p.labels is not None:
        arrays["labels"] = p.labels.numpy()
    with atomic_path(out / "latents.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    for f, px, ft in zip(args.images, p.pixel.tolist(), p.feature.tolist()):
        print(f"{f}: pixel MSE {px:.4f}, feature distance {ft:.4f}")
    print(f"wrote {out / 'projected.png'}, {out / 'latents.npz'} and {out / 'progress.png'} (each row: the "
          f"target, then G(z) over {args.steps} steps; features: {p.feature_space})")


def arithmetic(args: argparse.Namespace) -> None:
    """`gankit arithmetic RUN A B C --out FILE.png`: a - b + c over groups of samples."""
    from gankit.api import load
    from gankit.data.base import to_uint8
    from gankit.viz import save_grid

    out = _check_writable_file(args.out, ".png")
    _in_range("--k", args.k, 1, 1000, "the picture has k + 1 images per row")
    _in_range("--pool", args.pool, 1, 1_000_000, "the pool is drawn and classified in memory")
    _seed(args)
    if args.pool < args.k or args.noise < 0:
        raise UserError("--pool must be at least --k and --noise at least 0")
    model = load(args.run, args.checkpoint, args.device)
    r = model.arithmetic(args.a, args.b, args.c, args.k, args.pool, args.seed, args.noise, args.data_dir,
                         not args.raw_means)
    save_grid(to_uint8(r.grid()), out, nrow=args.k + 1)
    print(f"wrote {out}: rows {args.a!r}, {args.b!r}, {args.c!r} ({args.k} samples each, the image of their "
          f"mean latent last), then {args.a!r} - {args.b!r} + {args.c!r} and {args.k - 1} variations")


def features(args: argparse.Namespace) -> None:
    """`gankit features RUN`: D's features + a linear classifier with N labels per class."""
    import torch

    from gankit.api import load
    from gankit.data.base import to_model_range
    from gankit.dfeatures import evaluate as score, layer_features, pixels
    from gankit.files import write_json_atomic

    json_out = _check_writable_file(args.json, ".json", "--json") if args.json else None
    if min(args.labels_per_class) < 1:
        raise UserError("--labels-per-class takes positive numbers")
    _in_range("--labels-per-class", max(args.labels_per_class), 1, 100_000, "labels per class of the training set")
    _seed(args)
    model = load(args.run, args.checkpoint, args.device)
    D = model.discriminator()
    cfg = model.cfg
    if model.info.kind != "image" or model.info.num_classes < 2:
        raise UserError(f"D features are scored on a labelled image dataset; {cfg.dataset} is not one")
    train, test = _data(cfg, "train", args.data_dir), _data(cfg, "test", args.data_dir)
    if train.labels is None or test.labels is None:
        raise UserError(f"{cfg.dataset} has no labels to fit or score a classifier with")
    tx, vx = to_model_range(train.x), to_model_range(test.x)
    extractors = {"D features": lambda x: layer_features(D, x)}
    if args.baselines:
        from gankit.algorithms import build

        torch.manual_seed(cfg.seed)
        rand = build(cfg, model.info).networks["D"].to(model.device)
        extractors["random D"] = lambda x: layer_features(rand, x)
        extractors["pixels"] = pixels
    rows = []
    for name, fn in extractors.items():
        for r in score(fn, tx, train.labels, vx, test.labels, args.labels_per_class, args.seeds):
            rows.append({"features": name, **r})
    print(f"{cfg.model} on {cfg.dataset}, step {model.meta.get('step')}: linear L2-SVM on standardized features, "
          f"test accuracy on {len(test)} images")
    print(f"  {'features':12s} {'dim':>6s} {'labels/class':>12s} {'seed':>5s} {'accuracy':>9s} {'errors':>7s}")
    for r in rows:
        print(f"  {r['features']:12s} {r['feature_dim']:6d} {r['labels_per_class']:12d} {r['seed']:5d} "
              f"{100 * r['accuracy']:8.2f}% {r['errors']:7d}")
    if json_out:
        write_json_atomic(json_out, {"run": str(args.run), "rows": rows})
        print(f"wrote {json_out}")


def info(args: argparse.Namespace) -> None:
    from gankit.info import report

    if not 0.1 <= args.seconds <= 600:
        raise UserError(f"--seconds must be between 0.1 and 600, got {args.seconds:g}")
    print("measuring (about 10 s)...", file=sys.stderr, flush=True)
    for line in report(args.seconds, args.device):
        print(line, flush=True)


def export(args: argparse.Namespace) -> None:
    """`gankit export RUN [--format onnx|torchscript] [--out FILE]`: the generator and OUT.json."""
    from gankit.api import load
    from gankit.export import SUFFIXES, default_out, export as write, require, sidecar_path
    from gankit.runs import RunFolder

    require(args.format)  # a known format whose packages are installed, before anything is read
    run = RunFolder.open(args.run)
    out = _check_writable_file(args.out or str(default_out(run.path, args.format)), SUFFIXES[args.format])
    model = load(run.path, args.checkpoint, "cpu", ema=not args.no_ema)
    info = write(model, args.format, out)
    inputs = " + ".join(f"{i['name']} {i['dtype']} ({', '.join(map(str, i['shape']))})" for i in info["inputs"])
    o = info["output"]
    shown = f"{o['name']} ({', '.join(map(str, o['shape']))})" + (" in [-1, 1]" if o["range"] else "")
    print(f"wrote {out} ({model.cfg.model}, {info['weights']} weights of the {info['checkpoint']} checkpoint: "
          f"{inputs} -> {shown}) and {sidecar_path(out)}")


def models(args: argparse.Namespace) -> None:
    from gankit.algorithms import MODELS

    for name, spec in MODELS:
        tag = " [conditional]" if spec.conditional else ""
        print(f"{name:11s} {spec.description}{tag}")
        if spec.paper_note:
            settings = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in spec.paper.items())
            print(f"{'':11s}   --preset paper: {spec.paper_note}; {settings}")
            ds = "mnist" if "image" in spec.kinds else "ring8"
            adds = ", ".join(f"{k}={a:g}" if isinstance(a, float) else f"{k}={a}"
                             for k, (a, _) in spec.gankit_adds(ds).items())
            where = f" (on {ds})" if ds in spec.dataset_defaults else ""
            print(f"{'':11s}   --preset gankit (default) adds on top of it{where}: {adds or 'nothing'}"
                  + ("; gankit's own networks" if spec.paper_networks else ""))
        else:
            print(f"{'':11s}   no paper of its own: --preset paper is gankit's defaults")


def datasets(args: argparse.Namespace) -> None:
    from gankit.data import DATASETS

    for name, entry in DATASETS:
        print(f"{name:14s} {entry.description}")


def evaluate(args: argparse.Namespace) -> None:
    """`gankit eval RUN` or `gankit eval --samples FILE.npz --dataset NAME`."""
    from gankit.files import write_json_atomic
    from gankit.metrics.evaluate import format_table

    if bool(args.run) == bool(args.samples):
        raise UserError("pass a run folder or --samples FILE.npz (one of them)")
    _seed(args)
    json_out = _check_writable_file(args.json, ".json", "--json") if args.json else None
    nearest = _check_writable_file(args.nearest, ".png", "--nearest") if args.nearest else None
    if args.samples:
        result = _evaluate_samples(args, nearest)
    else:
        from gankit.api import evaluate_run

        if args.dataset:
            raise UserError("a run is evaluated on the dataset it was trained on; drop --dataset")
        _eval_n(args.n)
        if args.ppl_n != 0:
            _in_range("--ppl-n", args.ppl_n, 10, 100_000, "0 skips PPL; each pair is drawn twice and scored")
        result = evaluate_run(args.run, args.n, args.checkpoint, args.extractor, args.data_dir,
                              args.device, args.seed, not args.no_memorization, nearest, args.ppl_n)
    print(format_table(result))
    if args.run:
        shown = result.get("memorization", {}).get("pairs_png")
        print(f"wrote {Path(args.run) / 'eval.json'}" + (f" and {shown}" if shown else ""))
    if json_out:
        write_json_atomic(json_out, result)
        print(f"wrote {json_out}")


def _evaluate_samples(args, nearest):
    from gankit.metrics.evaluate import evaluate as score, reference
    from gankit.sampling import read_samples

    if not args.dataset:
        raise UserError("--samples needs --dataset NAME (whose test split to compare against)")
    x, labels = read_samples(args.samples)
    size = x.shape[-1] if x.dim() == 4 else None
    ref = reference(args.dataset, args.data_dir, size, x.shape[1] if x.dim() == 4 else None,
                    args.extractor, args.device)
    result = score(ref, x, labels, args.seed, memorization=not args.no_memorization)
    result["protocol"]["source"] = str(args.samples)
    if nearest:
        from gankit.api import save_nearest

        save_nearest(result, x, ref, nearest)
    return result


def report(args: argparse.Namespace) -> None:
    """`gankit report RUN [--out FILE.html]`: evaluates first when the run has no eval.json."""
    from gankit.report import write_report
    from gankit.runs import RunFolder

    run = RunFolder.open(args.run)
    _eval_n(args.n)
    out = _check_writable_file(args.out, ".html") if args.out else run.path / "report.html"
    eval_json = run.path / "eval.json"
    if not eval_json.is_file() and not args.no_eval:
        from gankit.api import evaluate_run
        from gankit.metrics.evaluate import format_table

        print("no eval.json in the run yet; evaluating first (skip with --no-eval)")
        print(format_table(evaluate_run(args.run, args.n, data_dir=args.data_dir, device=args.device)))
    result = None
    if eval_json.is_file():
        from gankit.bounded import loads_json, read_text

        fix = f"delete it and run `gankit eval {run.path}`"
        result = loads_json(read_text(eval_json, str(eval_json), fix, 2**24), str(eval_json), fix, 2**24)
        if not isinstance(result, dict):
            raise UserError(f"{eval_json} is damaged; {fix}")
    write_report(run, out, result)
    print(f"wrote {out}")
