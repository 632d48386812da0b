"""Model builders: `mlp(sizes)` makes the same layer stack as `torch_impl.mlp(sizes)`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .layers import GELU, Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh

ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
    "identity": Identity,
}


def check_sizes(sizes: Sequence[int], activation: str) -> list[int]:
    """Validate an architecture: at least an input and an output size, all positive, a known activation."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive layer widths (input, ..., output), got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    return sizes


def mlp(sizes: Sequence[int], activation: str = "relu", dtype=np.float32, seed=None) -> Sequential:
    """Linear layers of the given widths with `activation` between them and none after the last."""
    sizes = check_sizes(sizes, activation)
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(Linear(n_in, n_out, dtype=dtype, rng=rng))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(*layers)
