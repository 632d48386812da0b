"""The torch.nn twins of the scratch model builders: same layer order, same state_dict keys."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from scratch.models import CNNSpec, ModelSpec, check_sizes

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


def cnn(spec: CNNSpec | None = None, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """The CNN described by `spec`, the same layer stack as `scratch.cnn(spec)`."""
    spec = spec or CNNSpec()
    layers: list[nn.Module] = [nn.Unflatten(1, spec.image_shape)]  # (N, C*H*W) -> (N, C, H, W)
    c_in = spec.image_shape[0]
    for c_out in spec.channels:
        layers.append(nn.Conv2d(c_in, c_out, spec.kernel_size, padding=spec.kernel_size // 2, bias=not spec.batch_norm,
                                dtype=dtype))
        if spec.batch_norm:
            layers.append(nn.BatchNorm2d(c_out, dtype=dtype))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    layers.append(nn.Flatten())
    for n_in, n_out, last in [(spec.flat_features(), spec.hidden, False), (spec.hidden, spec.num_classes, True)]:
        if spec.dropout:
            layers.append(nn.Dropout(spec.dropout))
        layers.append(nn.Linear(n_in, n_out, dtype=dtype))
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def build(spec: ModelSpec, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """The model `spec` names, as scratch.models.build: an `mlp` of spec.sizes, or a `cnn` of spec.cnn_spec()."""
    if spec.model == "mlp":
        return mlp(spec.sizes, spec.activation, dtype=dtype)
    return cnn(spec.cnn_spec(), dtype=dtype)
