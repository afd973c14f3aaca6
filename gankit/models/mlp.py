"""Fully connected generators and discriminators: the vanilla GAN (Goodfellow et al. 2014), the
dense "simple GAN" with batch norm, and the conditional GAN (Mirza & Osindero 2014), for images
(flattened) and for 2-D points."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gankit.models.base import Dropout, label_embedding, minibatch_layers, one_hot

ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True)}


class MLPGenerator(nn.Module):
    """z (N, z_dim) [+ one-hot label] -> hidden layers -> (N, *shape).

    out: "tanh" (images in [-1, 1]), "sigmoid" (a sigmoid unit rescaled to [-1, 1] as 2*s - 1, so
    the data range matches), or "linear" (points).
    """

    def __init__(self, z_dim: int, shape: Sequence[int], hidden: Sequence[int], num_classes: int = 0,
                 batchnorm: bool = False, act: str = "relu", out: str = "tanh"):
        super().__init__()
        self.z_dim, self.shape, self.num_classes, self.out = z_dim, tuple(shape), num_classes, out
        layers: list[nn.Module] = []
        width = z_dim + num_classes
        for h in hidden:
            layers.append(nn.Linear(width, h, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[act]())
            width = h
        layers.append(nn.Linear(width, math.prod(shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        if self.num_classes:
            z = torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], dim=1)
        h = self.net(z)
        if self.out == "tanh":
            h = torch.tanh(h)
        elif self.out == "sigmoid":
            h = 2.0 * torch.sigmoid(h) - 1.0
        return h.view(z.shape[0], *self.shape)  # shape[0]: an exported graph keeps its batch size free


class MLPDiscriminator(nn.Module):
    """x (N, *shape) [+ label] -> hidden layers (LeakyReLU 0.2, or `act`; optional dropout) -> (N,).

    cond: how a label enters. "concat" (Mirza 2014): its one-hot beside the input. "projection"
    (Miyato and Koyama 2018): the logit adds the inner product of a learnt label embedding with the
    last hidden layer, so every label has its own direction in D's features; on MNIST this is what
    makes an MLP G follow its labels (docs/benchmarks.md).
    pack > 1 (PacGAN): `pack` consecutive samples (each with its one-hot label, where labels are
    concatenated) are concatenated into one input and judged together; the output is (N / pack,);
    with projection, a pack's term uses the mean of its members' label embeddings.
    mbstd > 0: the minibatch standard deviation (Karras 2018, models/base.py's MinibatchStd) over
    groups of `mbstd_group` inputs, as `mbstd` extra features before the last layer; mbdisc > 0:
    minibatch discrimination (Salimans 2016) with that many kernels, there too.
    in_scale: x is multiplied by it first (Metz et al.'s 2-D D divides its input by 4).
    """

    def __init__(self, shape: Sequence[int], hidden: Sequence[int], num_classes: int = 0,
                 dropout: float = 0.0, pack: int = 1, mbstd: int = 0, mbstd_group: int = 4, mbdisc: int = 0,
                 cond: str = "concat", act: str = "lrelu", in_scale: float = 1.0):
        super().__init__()
        if cond not in ("concat", "projection"):
            raise ValueError(f"cond must be concat or projection, not {cond!r}")
        self.num_classes, self.pack, self.in_scale = num_classes, pack, in_scale
        self.concat = num_classes if cond == "concat" else 0
        layers: list[nn.Module] = []
        width = (math.prod(shape) + self.concat) * pack
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[act]()]
            if dropout:
                layers.append(Dropout(dropout))
            width = h
        tail, width = minibatch_layers(width, mbstd, mbstd_group, mbdisc)
        layers += tail
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.embed = nn.Embedding(num_classes, width) if num_classes and not self.concat else None

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        h = x.reshape(len(x), -1)
        if self.in_scale != 1.0:
            h = h * self.in_scale
        if self.concat:
            h = torch.cat([h, one_hot(labels, self.num_classes, h.dtype)], dim=1)
        h = h.reshape(len(x) // self.pack, -1)
        if self.embed is None:
            return self.net(h).squeeze(1)
        feats = self.net[:-1](h)
        e = label_embedding(self.embed, labels, self.pack)
        return self.net[-1](feats).squeeze(1) + (e.to(feats.dtype) * feats).sum(1)


def orthogonal_init(module: nn.Module, gain: float) -> nn.Module:
    """Every linear layer of `module` orthogonal with this gain and zero biases (the
    initialisation of Metz et al.'s 2-D networks); returns the module."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
