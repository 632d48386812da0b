"""The torch.nn twins of the scratch model builders: same layer order, same state_dict keys."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from scratch.models import check_sizes

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "identity": nn.Identity,
}


def mlp(sizes: Sequence[int], activation: str = "relu", dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """Linear layers of the given widths with `activation` between them and none after the last."""
    sizes = check_sizes(sizes, activation)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
