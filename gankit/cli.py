"""The command line: verbs that parse and validate arguments, then call the library.

    gankit train [MODEL] [--dataset NAME] [--data-dir DIR] [--epochs N | --minutes M] [--out RUN] [--preset paper]
    gankit train ssgan --dataset mnist --labels-per-class 10
    gankit train --resume RUN
    gankit sample RUN --n N --out FILE.npz [--label K | --labels all] [--code cat=3,c1=0.5] [--grid FILE.png]
    gankit interpolate RUN --out FILE.png [--steps 10] [--slerp] [--real]
    gankit eval RUN [--n 10000] [--json FILE]  |  gankit eval --samples FILE.npz --dataset NAME
    gankit project RUN IMAGE.png [...] --out DIR [--steps 500] [--label K]
    gankit arithmetic RUN A B C --out FILE.png     (groups like class=7,thick; a - b + c)
    gankit features RUN [--labels-per-class 10 100] [--baselines]
    gankit export RUN [--format onnx|torchscript] [--out FILE] [--checkpoint best|last] [--no-ema]
    gankit report RUN [--out FILE.html]
    gankit info [--seconds 2]
    gankit models | gankit datasets

A UserError anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from gankit.errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gankit", description="Train, evaluate and explore GANs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: dcgan on scikit-learn's digits)",
                       description="Train a GAN into a run folder. Any config key can be set with "
                       "--set key=value; docs/guide.md's Configuration section and config.json of a run list the keys.")
    t.add_argument("model", nargs="?", default=None, help="model name (`gankit models`), default dcgan")
    t.add_argument("--dataset", help="dataset name (`gankit datasets`), default digits")
    t.add_argument("--data-dir", help="folder holding the dataset's files")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="passes over the training images")
    budget.add_argument("--minutes", type=float, help="stop cleanly after this much wall time")
    t.add_argument("--out", help="run folder to create (default runs/<model>-<dataset>-NNN)")
    t.add_argument("--seed", type=int)
    t.add_argument("--eval-every", type=int, metavar="N",
                   help="every N steps score FID and classes covered on a few thousand samples and keep "
                   "the best checkpoint (= --set eval_every=N)")
    t.add_argument("--tensorboard", action="store_true", default=None,
                   help="also log losses, img/s, evaluation scores and sample grids for TensorBoard into "
                   "RUN/tensorboard/ (= --set tensorboard=true; needs `pip install tensorboard`)")
    t.add_argument("--preset", choices=["gankit", "paper"],
                   help="gankit: gankit's measured defaults (default); paper: the model's paper's settings "
                   "(`gankit models` shows both; = --set preset=...)")
    t.add_argument("--labels-per-class", type=int, metavar="N",
                   help="ssgan: labelled training images per class, chosen by the seed; the rest train "
                   "unlabelled (= --set labels_per_class=N)")
    t.add_argument("--config", help="YAML or JSON file of config keys")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable)")
    t.add_argument("--keep", type=int, metavar="K",
                   help="periodic step checkpoints kept besides last and best (= --set keep=K)")
    t.add_argument("--on-divergence", choices=["stop", "rollback", "warn"],
                   help="what a diverged run does (= --set on_divergence=...; default stop)")
    t.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (= --set threads=N; default: torch's choice); a resume may "
                   "change it for the machine it now runs on")
    t.add_argument("--resume", metavar="RUN", help="continue the run in this folder exactly")

    s = sub.add_parser("sample", help="draw samples from a trained run into an .npz file")
    s.add_argument("run", help="run folder")
    s.add_argument("--n", type=int, default=64, help="number of samples")
    s.add_argument("--out", required=True, help="output .npz (images uint8 (N,H,W[,C]), labels)")
    lab = s.add_mutually_exclusive_group()
    lab.add_argument("--label", type=int, help="class to draw (conditional models)")
    lab.add_argument("--labels", choices=["all"], help="'all': cycle labels 0..K-1")
    s.add_argument("--code", metavar="NAME=V,...",
                   help="fix latent codes (infogan: cat=0..9 and c1, c2 in [-1, 1], e.g. cat=3,c1=0.5)")
    s.add_argument("--grid", help="also write the first samples as a PNG grid")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--checkpoint", default=None, help="best or last (default: best if the run kept one)")
    s.add_argument("--no-ema", action="store_true", help="use G's raw weights, not the EMA")
    s.add_argument("--device", default="cpu")

    i = sub.add_parser("interpolate", help="write a PNG of latent (and class) interpolations")
    i.add_argument("run", help="run folder")
    i.add_argument("--out", required=True, help="output .png")
    i.add_argument("--steps", type=int, default=10, help="images per row")
    i.add_argument("--rows", type=int, default=8)
    i.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    i.add_argument("--real", action="store_true",
                   help="models with an encoder (vae, autoencoder): walk between the codes of pairs of test "
                   "images of the run's dataset, shown at both ends of each row")
    i.add_argument("--data-dir", help="with --real: folder holding the dataset's files (default: the run's)")
    i.add_argument("--seed", type=int, default=0, help="which latents (with --real: which test images)")
    i.add_argument("--checkpoint", default=None, help="best or last (default: best if kept)")
    i.add_argument("--device", default="cpu")

    e = sub.add_parser("eval", help="score a run (or a samples .npz) against the test split",
                       description="FID, KID, Inception Score, precision/recall, density/coverage, class "
                       "coverage, label accuracy, memorization and D accuracy, each beside its floor "
                       "(real training images scored the same way).")
    e.add_argument("run", nargs="?", help="run folder")
    e.add_argument("--samples", help="a samples .npz (from `gankit sample`) instead of a run")
    e.add_argument("--dataset", help="with --samples: the dataset to compare against")
    e.add_argument("--data-dir", help="folder holding the dataset's files")
    e.add_argument("--n", type=int, default=10000, help="samples to draw from a run (default 10000)")
    e.add_argument("--checkpoint", default=None, help="best or last (default: best if kept)")
    e.add_argument("--extractor", default="classifier", choices=["classifier", "inception"],
                   help="feature space: gankit's domain classifier (default) or Inception-v3")
    e.add_argument("--json", help="also write the full result to this .json file")
    e.add_argument("--nearest", help="PNG of the samples closest to a training image and those images")
    e.add_argument("--no-memorization", action="store_true", help="skip the nearest-neighbour search")
    e.add_argument("--ppl-n", type=int, default=2000, metavar="N",
                   help="latent pairs for the perceptual path length of a run (default 2000; 0 skips it)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")

    pj = sub.add_parser("project", help="find the latents whose generated images match given images",
                        description="Project images into a run's generator (the StyleGAN2 projector's recipe, "
                        "pixel + domain-classifier loss): OUT/projected.png, OUT/latents.npz, OUT/progress.png.")
    pj.add_argument("run", help="run folder")
    pj.add_argument("images", nargs="+", help="image files of the run's size (grey for grey runs)")
    pj.add_argument("--out", required=True, help="folder to write into (created if missing)")
    pj.add_argument("--steps", type=int, default=500, help="optimizer steps (default 500)")
    pj.add_argument("--label", type=int, help="conditional models: the class to project at (default: the best)")
    pj.add_argument("--feature-weight", type=float, default=1.0,
                    help="weight of the classifier-feature distance beside the pixel MSE (default 1)")
    pj.add_argument("--starts", type=int, default=16, help="drawn latents tried beside the mean latent (default 16)")
    pj.add_argument("--seed", type=int, default=0)
    pj.add_argument("--checkpoint", default=None, help="best or last (default: best if kept)")
    pj.add_argument("--data-dir", help="folder holding the dataset's files (its domain classifier)")
    pj.add_argument("--device", default="cpu")

    ar = sub.add_parser("arithmetic", help="latent vector arithmetic a - b + c over groups of samples",
                        description="Mean latents of three groups of generated samples, chosen by the domain "
                        "classifier's class and/or an attribute (thick, thin, slant=left, slant=right), combined as "
                        "a - b + c and generated: a PNG of four rows (the groups with their mean-latent image last, "
                        "then the result and its variations).")
    ar.add_argument("run", help="run folder")
    ar.add_argument("a", help="first group, e.g. class=7,thick")
    ar.add_argument("b", help="group subtracted, e.g. class=7,thin")
    ar.add_argument("c", help="group added, e.g. class=1,thin")
    ar.add_argument("--out", required=True, help="output .png")
    ar.add_argument("--k", type=int, default=8, help="samples averaged per group (default 8)")
    ar.add_argument("--pool", type=int, default=2000, help="samples drawn to choose the groups from (default 2000)")
    ar.add_argument("--noise", type=float, default=0.25, help="uniform noise on the result's variations (default 0.25)")
    ar.add_argument("--seed", type=int, default=0)
    ar.add_argument("--raw-means", action="store_true", help="generate the mean latents and a - b + c as they "
                    "are (default: scaled to a sample's typical length, where G's images are sharp)")
    ar.add_argument("--checkpoint", default=None, help="best or last (default: best if kept)")
    ar.add_argument("--data-dir", help="folder holding the dataset's files (its domain classifier)")
    ar.add_argument("--device", default="cpu")

    fe = sub.add_parser("features", help="D as a feature extractor: a linear classifier with few labels",
                        description="Every layer of the run's discriminator (conv maps max-pooled to 4x4) as "
                        "features of the run's dataset, a linear L2-SVM fitted on N labelled training images per "
                        "class, its accuracy on the test split (Radford et al. 2015).")
    fe.add_argument("run", help="run folder")
    fe.add_argument("--labels-per-class", type=int, nargs="+", default=[10, 100], metavar="N",
                    help="labelled training images per class (default 10 100; 1000 fits 10,000 feature "
                    "vectors per extractor and takes many minutes on a few cores)")
    fe.add_argument("--seeds", type=int, nargs="+", default=[0], help="which labelled images (default 0)")
    fe.add_argument("--baselines", action="store_true",
                    help="also raw pixels and a randomly initialised D of the same shape")
    fe.add_argument("--json", help="also write the rows to this .json file")
    fe.add_argument("--checkpoint", default=None, help="best or last (default: best if kept)")
    fe.add_argument("--data-dir", help="folder holding the dataset's files (default: the run's)")
    fe.add_argument("--device", default="cpu")

    x = sub.add_parser("export", help="write the generator as ONNX or TorchScript for use outside gankit",
                       description="Write the run's generator (latents [+ labels] -> images in [-1, 1], or points) as "
                       "one file, with OUT.json beside it describing its inputs and output; docs/export.md.")
    x.add_argument("run", help="run folder")
    x.add_argument("--format", default="onnx", help="onnx (default; needs onnx and onnxscript) or torchscript")
    x.add_argument("--out", help="output file (default RUN/G.onnx, or RUN/G.torchscript.pt)")
    x.add_argument("--checkpoint", default=None, help="best or last (default: best if the run kept one)")
    x.add_argument("--no-ema", action="store_true", help="export G's raw weights, not the EMA")

    r = sub.add_parser("report", help="write one HTML page about a run (grids, curves, metrics)")
    r.add_argument("run", help="run folder")
    r.add_argument("--out", help="output .html (default RUN/report.html)")
    r.add_argument("--no-eval", action="store_true", help="do not run `gankit eval` when eval.json is missing")
    r.add_argument("--n", type=int, default=10000, help="samples for the evaluation it runs")
    r.add_argument("--data-dir", help="folder holding the dataset's files")
    r.add_argument("--device", default="cpu")

    n = sub.add_parser("info", help="this machine: device, precision, CPU features, measured speed",
                       description="The versions, the device and the precision `auto` picks and why, the "
                       "CPU's vector features, a measured matmul rate and the measured img/s of the default "
                       "model: what to know before a long run, and what to paste into a bug report.")
    n.add_argument("--seconds", type=float, default=2.0, help="length of each measurement (default 2)")
    n.add_argument("--device", default="auto", help="device to measure (default: what device=auto picks)")

    sub.add_parser("models", help="list the models")
    sub.add_parser("datasets", help="list the datasets")
    return p


VERBS = {"eval": "evaluate"}  # command -> function in commands.py, where the names differ


def _error(message: str, code: int = 2) -> None:
    """One line on stderr (bytes that are not UTF-8 shown as escapes), then exit."""
    print(f"gankit: error: {message}".encode("utf-8", "backslashreplace").decode("utf-8"), file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    for a in sys.argv[1:] if argv is None else argv:
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 (Python keeps them as surrogates)
            _error(f"argument {ascii(a)[1:-1]} is not UTF-8; gankit writes paths and names into "
                   "UTF-8 files, so rename it or choose another")
    args = _parser().parse_args(argv)
    try:
        if args.command is None:
            _parser().print_help()
            return
        from gankit import commands

        getattr(commands, VERBS.get(args.command, args.command))(args)
    except UserError as e:
        _error(str(e), e.exit_code)
    except (MemoryError, RuntimeError) as e:
        from gankit.training.memory import is_out_of_memory

        if not is_out_of_memory(e):
            raise
        _error(f"out of memory ({type(e).__name__}); ask for less: fewer samples (--n), or for training "
               "a lower batch_size, width or image_size")
    except KeyboardInterrupt:
        from gankit.training import interrupt

        print("gankit: interrupted", file=sys.stderr)
        sys.exit(interrupt.exit_code())  # 143 where SIGTERM asked first, even if a second signal ended it
    except BrokenPipeError:  # `gankit models | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        sys.exit(141)
