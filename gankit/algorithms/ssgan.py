"""The semi-supervised GAN (Salimans et al. 2016, "Improved techniques for training GANs",
section 5): D is a K-class classifier of the real data trained on all training images, of which
only `labels_per_class` per class show their label; G learns by feature matching.

D's K class logits l_k(x) also say real or fake: generated images are a (K+1)-th class whose logit
is fixed at 0, so D(x) = p(real | x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp l_k(x), the sigmoid of
logsumexp_k l_k(x) (gankit/losses.py `real_logit`). D's loss is the cross-entropy of the class
logits on a labelled batch plus `unsup_weight` times the standard loss of that real-vs-fake logit
on an unlabelled real batch and a generated one (`d_supervised`, `d_unsupervised`). G's loss is
feature matching: the squared distance of the batch means of D's last hidden layer on real and
generated images (`g_feature_matching`). `gankit eval` scores D as a classifier of the test split
(`d_class_accuracy`, `d_class_errors`); `gankit.load(RUN).classify(images)` uses it.

The labelled images: `labels_per_class` of each class, drawn by `gankit.data.labelled_subset` from
a CPU generator seeded by the run's seed plus LABEL_SEED (no training noise touches it), so a seed
gives the same images on any machine. `prepare` keeps them (and their labels) on the training
device; every D step draws a labelled batch from them with the run's noise generator (each
labelled image once per pass, as the paper's code tiles them), so resume stays exact. The batches
of the run manager carry only the images (no labels). The indices and labels are the algorithm's
extra state, `extra.labelled_idx` and `extra.labelled_y` in every checkpoint of the run folder: a
resume and `gankit.load` take them from there (`Model.algo.labelled_idx`), never recompute them.

Networks: the paper's MNIST ones (its released code, train_mnist_feature_matching.py): G 100 ->
500 -> 500 (batch norm, softplus) -> 784 sigmoid with a weight-normalised output layer; D an MLP
1000-500-250-250-250 (ReLU, weight-normalised layers whose scales are set from the data once and
then fixed, the output layer's trained) with Gaussian noise of std 0.3 on its input (pixels in [0,
1]) and 0.5 on each hidden layer; its scales and biases initialised from 500 training images
(weight normalisation's data-dependent initialisation). Adam 3e-3 (beta1 0.5) on batches of 100.
On images smaller than 20x20 pixels (the 8x8 digits) every hidden layer is half as wide
(`hidden_sizes`).

Where gankit differs from the paper's code:
- G's latents are standard normal (the code: uniform on [0, 1)); G's batch norm has a learnt scale.
- G's step matches the features of the last D step's real batch (the code draws a second
  unlabelled batch), so an epoch stays one pass of D over the images.
- D's test accuracy is that of the EMA of its weights when the run keeps one (gankit's `ema`
  decay, 0.999 by default, ramped; the code averaged D at 0.9999 from zero); the EMA covers G too.
- gankit's divergence check by D winning outright is off by default (`d_win_steps=0`): it
  stands for a G whose loss saturates, and feature matching's does not (G's gradient does not
  vanish when D tells its samples apart), so a D that wins is no sign of divergence here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.algorithms.gan import GAN
from gankit.data.base import to_model_range
from gankit.data.labelled import labelled_subset
from gankit.errors import UserError
from gankit.losses import d_supervised, d_unsupervised, g_feature_matching, real_logit
from gankit.objectives.base import logit_stats
from gankit.sampling import eval_mode

LABEL_SEED = 0x5353 << 40  # the labelled set's generator: seed + this (no other gankit seed reaches it)
INIT_IMAGES = 500  # training images that set D's weight-norm scales and biases (the paper's code: 500)
MAX_PER_CLASS = 10**6


@dataclass
class SSOptions:
    labels_per_class: int = 0  # labelled training images per class (required; 0 asks for it); the rest train unlabelled
    unsup_weight: float = 0.5  # weight of the unlabelled real-vs-fake term in D's loss (the paper's code: 0.5)

    def __post_init__(self):
        if not 0 <= self.labels_per_class <= MAX_PER_CLASS:
            raise UserError(f"labels_per_class must be in 1..{MAX_PER_CLASS:,} (labelled training images per "
                            f"class), got {self.labels_per_class}")
        if not 0 <= self.unsup_weight <= 1000:
            raise UserError(f"unsup_weight must be in [0, 1000], got {self.unsup_weight}")


# --- networks
class GaussianNoise(nn.Module):
    """x + N(0, sigma^2) in training (drawn from torch's global generator, which checkpoints keep),
    x itself in eval mode."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        return x + self.sigma * torch.randn_like(x) if self.training and self.sigma else x

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class WNLinear(nn.Module):
    """A weight-normalised dense layer (Salimans and Kingma 2016): y = x W^T + b with each output
    unit's weight row W_i = g_i v_i / ||v_i||. train_scale: g is a parameter; else a buffer, set by
    `init_from` and fixed (the paper's MNIST D trains only its last layer's scales)."""

    def __init__(self, n_in: int, n_out: int, train_scale: bool = False, std: float = 0.1):
        super().__init__()
        self.v = nn.Parameter(torch.randn(n_out, n_in) * std)
        self.b = nn.Parameter(torch.zeros(n_out))
        if train_scale:
            self.g = nn.Parameter(torch.ones(n_out))
        else:
            self.register_buffer("g", torch.ones(n_out))

    def weight(self) -> Tensor:
        return self.v * (self.g / self.v.norm(dim=1)).unsqueeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight(), self.b)

    @torch.no_grad()
    def init_from(self, x: Tensor) -> None:
        """Data-dependent initialisation: scales and biases that give this layer's outputs on the
        batch x (N, n_in) zero mean and unit variance per unit."""
        t = F.linear(x, self.weight())
        mean, std = t.mean(0), t.std(0, unbiased=False).clamp_min(1e-6)
        self.g.div_(std)
        self.b.copy_(-mean / std)


class SSGenerator(nn.Module):
    """z (N, z_dim) -> dense layers (no bias, batch norm, softplus) -> weight-normalised dense ->
    sigmoid, rescaled to [-1, 1] as 2 s - 1 -> (N, *shape)."""

    def __init__(self, z_dim: int, shape, hidden: tuple[int, ...]):
        super().__init__()
        self.z_dim, self.shape = z_dim, tuple(shape)
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.Softplus()]
            width = h
        layers.append(WNLinear(width, math.prod(shape), train_scale=True))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        x = 2.0 * torch.sigmoid(self.net(z)) - 1.0
        return x.view(z.shape[0], *self.shape)  # shape[0]: an exported graph keeps its batch size free


class SSDiscriminator(nn.Module):
    """A K-class classifier that also judges real or fake. x (N, *shape) in [-1, 1], seen as pixels
    in [0, 1] (the paper's scale, which its noise levels assume) -> Gaussian noise -> weight-normalised
    ReLU layers `hidden`, each followed by noise but the last, whose output are the features
    feature matching reads -> noise -> a weight-normalised K-way layer with trained scales.

    forward(x, labels=None, out="logit"): "logit" the real-vs-fake logit logsumexp of the class
    logits (N,) (what gankit's D accuracy, D features and the run manager expect of a D);
    "classes" the K class logits (N, K); "features" the last hidden layer (N, hidden[-1]).
    labels are ignored (the classes are D's output, not its input).
    """

    def __init__(self, shape, hidden: tuple[int, ...], num_classes: int, noise_in: float = 0.3,
                 noise_hidden: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = [GaussianNoise(noise_in)]
        width = math.prod(shape)
        for i, h in enumerate(hidden):
            layers += [WNLinear(width, h), nn.ReLU()]
            if i < len(hidden) - 1:
                layers.append(GaussianNoise(noise_hidden))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(noise_hidden), WNLinear(width, num_classes, train_scale=True))

    def forward(self, x: Tensor, labels: Optional[Tensor] = None, out: str = "logit") -> Tensor:
        f = self.body((x.reshape(x.shape[0], -1) + 1.0) * 0.5)
        if out == "features":
            return f
        logits = self.head(f)
        return logits if out == "classes" else real_logit(logits)

    @torch.no_grad()
    def init_from(self, x: Tensor) -> None:
        """Weight normalisation's data-dependent initialisation on model-range images x, layer by
        layer in order (the noise drawn as in training, as the paper's code does)."""
        h = (x.reshape(x.shape[0], -1).float() + 1.0) * 0.5
        for m in [*self.body, *self.head]:
            if isinstance(m, WNLinear):
                m.init_from(h)
            h = m(h)


def hidden_sizes(shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(G's hidden layers, D's): the paper's MNIST networks, half as wide on images of fewer than
    400 pixels (the 8x8 digits), where 1000 units would see 64 numbers. On the digits (10 labels
    per class, seed 1, one shared thread) the full widths' 500 steps (2,043 img/s) and the half
    widths' 1,000 (3,603 img/s: about the same wall time) both left D 38 errors of the 360 test
    images; one seed, so only this: no worse for being cheaper."""
    if math.prod(shape[1:]) >= 400:
        return (500, 500), (1000, 500, 250, 250, 250)
    return (250, 250), (500, 250, 125, 125, 125)


def build(cfg, data):
    if data.num_classes < 2:
        raise UserError(f"ssgan is semi-supervised: it needs a dataset with class labels (it shows D some of "
                        f"them), but {data.name!r} has none; use a labelled dataset (mnist, fashion-mnist, digits, "
                        "a folder with a subfolder per class)")
    if cfg.clusters or cfg.pack > 1:
        raise UserError("ssgan's D is already a classifier of the dataset's classes; drop --set clusters and "
                        "--set pack")
    if cfg.mbstd or cfg.mbdisc or cfg.d_width or cfg.d_norm:
        raise UserError("ssgan's discriminator takes no mbstd, mbdisc, d_width or d_norm (it is the paper's "
                        "weight-normalised MLP); drop them")
    g_hidden, d_hidden = hidden_sizes(data.shape)
    return (SSGenerator(cfg.z_dim, data.shape, g_hidden),
            SSDiscriminator(data.shape, d_hidden, data.num_classes))


# --- the algorithm
class SSGAN(GAN):
    Options = SSOptions
    ema = ("G", "D")  # D's average is the classifier eval scores (the paper tests an average of D)
    unrollable = False  # D's loss needs the labelled batch and G's reads D's features
    # its product is D the classifier: the last D, as the paper reports it, not one picked by G's
    # FID (nor by test errors, which would pick on the test set), so no `best` checkpoint
    keeps_best = False

    def __init__(self, cfg, info, spec):
        if cfg.objective != "gan" or cfg.loss != "nonsaturating" or cfg.label_smoothing:
            raise UserError("ssgan's losses are its own (cross-entropy on the labels, the standard real-vs-fake "
                            "loss, feature matching); drop --set objective, loss and label_smoothing")
        super().__init__(cfg, info, spec)
        self.k = info.num_classes
        n = self.options.labels_per_class
        if n == 0:
            raise UserError("ssgan needs to know how many training images per class show their label: give "
                            "--labels-per-class N (or --set labels_per_class=N), e.g. 10 for MNIST's 100-label setting")
        # the labelled set: chosen in prepare (or restored from a checkpoint); the right shapes now,
        # so that a checkpoint is checked against them before anything is loaded
        self.labelled_idx = torch.zeros(self.k * n, dtype=torch.int64)
        self.labelled_y = torch.zeros(self.k * n, dtype=torch.int64)
        self._lab_x: Optional[Tensor] = None  # the labelled images (uint8) on the training device
        self._lab_y: Optional[Tensor] = None

    # --- the labelled set
    def check_data(self, fields):
        labels = fields.get("label")
        if labels is None:
            raise UserError(f"ssgan needs the labels of dataset {self.info.name!r}, but its training data has none")
        n = self.options.labels_per_class
        counts = torch.bincount(labels.cpu(), minlength=self.k)
        if bool((counts < n).any()):
            c = int(counts.argmin())
            name = self.info.class_names[c] if c < len(self.info.class_names) else str(c)
            raise UserError(f"labels_per_class is {n}, but class {name!r} has only {int(counts[c])} training images; "
                            f"ask for at most {int(counts.min())} per class (--labels-per-class)")

    def prepare(self, fields, restored, log=print):
        x = fields["x"]
        if "label" in fields:  # the first call has the labels; a restore after it sees the images only
            self._data_labels = fields["label"].cpu()
        if restored:  # the checkpoint's labelled set decides, whatever a new draw would give
            if int(self.labelled_idx.max()) >= len(x):
                raise UserError(f"the run's checkpoint labels image {int(self.labelled_idx.max())}, but the training "
                                f"data has {len(x)} images; resume with the data the run was trained on")
            if not torch.equal(self._data_labels[self.labelled_idx], self.labelled_y):
                raise UserError("the training data's labels at the checkpoint's labelled images differ from the "
                                "run's (files added, removed or renamed?); resume with the data the run was trained on")
            log(f"ssgan: the checkpoint's labelled set, {len(self.labelled_idx)} images (indices' sha256 "
                f"{self.labelled_digest()})")
        else:
            self.check_data(fields)
            labels = fields["label"].cpu()
            idx = labelled_subset(labels, self.options.labels_per_class, self.cfg.seed + LABEL_SEED)
            self.labelled_idx, self.labelled_y = idx, labels[idx]
            g = torch.Generator().manual_seed(self.cfg.seed + LABEL_SEED + 1)
            D = self.networks["D"]
            first = torch.randperm(len(x), generator=g)[:INIT_IMAGES].to(x.device)
            D.init_from(to_model_range(x[first]).to(next(D.parameters()).device))
            log(f"ssgan: labels on {len(idx)} of {len(x)} training images ({self.options.labels_per_class} per "
                f"class, drawn by seed {self.cfg.seed}; indices' sha256 {self.labelled_digest()}); D's weight-norm "
                f"scales set from {min(INIT_IMAGES, len(x))} images")
        self._lab_x = x[self.labelled_idx.to(x.device)]
        self._lab_y = self.labelled_y.to(x.device)
        return {"x": x}  # the unlabelled stream: every training image, without its label

    def labelled_digest(self) -> str:
        """The first 12 hex digits of the SHA-256 of the labelled indices (int64, little-endian)."""
        return hashlib.sha256(self.labelled_idx.numpy().astype("<i8").tobytes()).hexdigest()[:12]

    def labelled_batch(self, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """n labelled images (model range) and their labels, from concatenated random permutations of
        the labelled set drawn with `gen` (each labelled image once per permutation)."""
        m = len(self._lab_y)
        perm = torch.cat([torch.randperm(m, generator=gen, device=gen.device) for _ in range(-(-n // m))])[:n]
        perm = perm.to(self._lab_x.device)  # the training data may stay in CPU memory (a large dataset)
        x, y = self._lab_x[perm].to(gen.device), self._lab_y[perm].to(gen.device)
        return to_model_range(x), y

    def extra_state(self):
        return {"labelled_idx": self.labelled_idx, "labelled_y": self.labelled_y}

    def load_extra_state(self, tensors):
        idx, y = tensors["labelled_idx"].cpu().clone(), tensors["labelled_y"].cpu().clone()
        n = self.options.labels_per_class
        if bool((idx < 0).any()) or len(idx.unique()) != len(idx) or bool((y < 0).any()) or bool((y >= self.k).any()) \
                or not torch.equal(torch.bincount(y, minlength=self.k), torch.full((self.k,), n)):
            raise UserError(f"the checkpoint's labelled set is damaged (expected {n} distinct images of each of "
                            f"{self.k} classes); restore the run folder from a copy")
        self.labelled_idx, self.labelled_y = idx, y

    # --- the losses
    def d_loss(self, D, real, fake, labels, gen):
        self._real = real  # G's step matches D's features of this batch
        xl, yl = self.labelled_batch(len(real), gen)
        sizes = [len(xl), len(real), len(fake)]
        # one forward for the three batches (D has no batch statistics, so it is the same as three)
        both = torch.cat([xl, real.to(xl.dtype), fake.to(xl.dtype)])
        lab, unl, gen_logits = D(both, out="classes").float().split(sizes)
        sup = d_supervised(lab, yl)
        unsup = d_unsupervised(unl, gen_logits)
        loss = sup + self.options.unsup_weight * unsup
        return loss, {"d_loss": loss.detach(), "d_sup_loss": sup.detach(), "d_unsup_loss": unsup.detach(),
                      "lab_acc": (lab.detach().argmax(1) == yl).float().mean(),
                      **logit_stats(real_logit(unl), real_logit(gen_logits))}

    def g_loss(self, D, fake, labels):
        with torch.no_grad():
            real_f = D(self._real, out="features")
        loss = g_feature_matching(real_f.float(), D(fake, out="features").float())
        return loss, {"g_loss": loss.detach()}

    # --- D as a classifier
    @torch.no_grad()
    def classify(self, nets, x, batch_size: int = 500):
        """D's K class logits (float (N, K), on the CPU) for model-range images x (N, C, H, W), in
        eval mode (no noise)."""
        D = nets["D"]
        device = next(D.parameters()).device
        with eval_mode(D):
            return torch.cat([D(x[i:i + batch_size].to(device), out="classes").float().cpu()
                              for i in range(0, len(x), batch_size)])

    def scores(self, nets, ref, device):
        if ref.test_labels is None or ref.kind != "image":
            return {}
        pred = self.classify(nets, to_model_range(ref.test_x)).argmax(1)
        wrong = int((pred != ref.test_labels).sum())
        n = len(pred)
        return {"d_class_accuracy": round(1 - wrong / n, 6), "d_class_errors": wrong,
                "d_class_accuracy_protocol": f"D as a {self.k}-class classifier (the argmax of its class logits, "
                f"no noise; D's EMA weights where the run kept an EMA and they were loaded, as gankit eval does) "
                f"on the {n} images of the test split; d_class_errors counts its mistakes (Salimans 2016 Table 1 "
                f"counts errors of 10,000); trained with {self.options.labels_per_class} labels per class"}

    def quick_scores(self, nets, ref, device):
        return {k: v for k, v in self.scores(nets, ref, device).items() if not k.endswith("_protocol")}

    def describe(self):
        c = self.cfg
        return (f"semi-supervised: D a {self.k}-class classifier (real vs fake from its logits) trained on "
                f"{self.k * self.options.labels_per_class} labelled and all unlabelled images, G by feature "
                f"matching; {c.d_steps} D step{'s' * (c.d_steps > 1)}, {c.g_steps} G step{'s' * (c.g_steps > 1)}")
