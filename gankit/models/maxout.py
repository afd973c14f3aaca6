"""The maxout discriminator of the first GAN papers (Goodfellow et al. 2014 on MNIST; Mirza and
Osindero 2014's conditional GAN): fully connected maxout layers (each unit the max of `pieces`
linear pieces) with dropout on every layer's input, then one linear output (a logit).

Goodfellow et al.'s MNIST D: two maxout layers of 240 units with 5 pieces, inputs kept with
probability 0.8 and hidden units with 0.5 (dropout 0.2 and 0.5). Labels (the conditional GAN)
are one-hot inputs beside the image, and PacGAN's packs are concatenated samples, as in
models/mlp.py's MLPDiscriminator.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gankit.models.base import Dropout, minibatch_layers, one_hot


class Maxout(nn.Module):
    """x (N, in) -> (N, units): the max over `pieces` linear maps of x."""

    def __init__(self, width: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(width, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)


class MaxoutDiscriminator(nn.Module):
    """x (N, *shape) [+ one-hot label] -> maxout layers with dropout -> logits (N / pack,)."""

    def __init__(self, shape: Sequence[int], hidden: Sequence[int] = (240, 240), pieces: int = 5,
                 num_classes: int = 0, input_dropout: float = 0.2, dropout: float = 0.5, pack: int = 1,
                 mbstd: int = 0, mbstd_group: int = 4, mbdisc: int = 0):
        super().__init__()
        self.num_classes, self.pack = num_classes, pack
        width = (math.prod(shape) + num_classes) * pack
        layers: list[nn.Module] = []
        drop = input_dropout
        for h in hidden:
            if drop:
                layers.append(Dropout(drop))
            layers.append(Maxout(width, h, pieces))
            width, drop = h, dropout
        if drop:
            layers.append(Dropout(drop))
        tail, width = minibatch_layers(width, mbstd, mbstd_group, mbdisc)
        layers += tail
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        h = x.reshape(len(x), -1)
        if self.num_classes:
            h = torch.cat([h, one_hot(labels, self.num_classes, h.dtype)], dim=1)
        return self.net(h.reshape(len(x) // self.pack, -1)).squeeze(1)
