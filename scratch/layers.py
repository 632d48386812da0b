"""Layers in NumPy (Linear, Sequential, reshapes, dropout): each forward caches what backward needs; backward follows."""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .activations import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, log_softmax, sigmoid
from .module import Module, Parameter

# The activations live in activations.py; models, losses and older code import them from here too.
__all__ = ["GELU", "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "LogSoftmax", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "Tanh", "Unflatten", "log_softmax", "sigmoid"]


def _check_input(x, layer: str, dtype: np.dtype, features: int | None = None) -> None:
    """Refuse inputs that are not float arrays of the layer's dtype and feature size."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer} expects a NumPy array, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(
            f"{layer} holds {dtype} weights but got a {x.dtype} input: convert it with x.astype(np.{dtype})"
        )
    if features is not None and (x.ndim == 0 or x.shape[-1] != features):
        raise ValueError(f"{layer} expects input of shape (*, {features}), got {x.shape}")


@functools.cache
def _takes_input_grad(cls: type) -> bool:
    """Whether cls.backward can skip dx (Linear and Conv2d can; a subclass that overrides backward may not)."""
    return "input_grad" in inspect.signature(cls.backward).parameters


class Linear(Module):
    """y = x @ W.T + b, with W shaped (out_features, in_features) as in torch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, rng=None):
        rng = np.random.default_rng(rng)
        bound = 1.0 / math.sqrt(in_features)  # torch's default: U(-1/sqrt(in), 1/sqrt(in)) for both
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype)) if bias else None
        self.x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_input(x, "Linear", self.weight.dtype, self.in_features)
        self.x = x
        out = x @ self.weight.data.T  # (*, in) @ (in, out) -> (*, out)
        if self.bias is not None:
            out += self.bias.data
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        x = self._cached("x").reshape(-1, self.in_features)  # (N, in)
        dout2 = dout.reshape(-1, self.out_features)  # (N, out)
        self.weight.accumulate(dout2.T @ x)  # (out, N) @ (N, in) -> (out, in)
        if self.bias is not None:
            self.bias.accumulate(dout2.sum(axis=0))  # (out,)
        self.x = None
        if not input_grad:  # the data needs no gradient: skip the product, as torch does
            return None
        return dout @ self.weight.data  # dx: (*, out) @ (out, in) -> (*, in)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse. Children are named '0', '1', ... as in torch."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def named_children(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout, input_grad: bool = True):
        """With input_grad=False nothing below the first layer that can skip its dx (Linear, Conv2d) runs, and None
        is returned: a training loop needs no gradient for its data (torch skips it too: the input needs no grad)."""
        skippable = [] if input_grad else [i for i, layer in enumerate(self.layers) if _takes_input_grad(type(layer))]
        first = skippable[0] if skippable else None
        for i in reversed(range(len(self.layers))):
            if i == first:
                return self.layers[i].backward(dout, input_grad=False)
            dout = self.layers[i].backward(dout)
        return dout


class Flatten(Module):
    """Merge dims start_dim..end_dim into one, as torch.nn.Flatten (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        self.x_shape = x.shape
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])

    def backward(self, dout):
        x_shape = self._cached("x_shape")
        self.x_shape = None
        return dout.reshape(x_shape)


class Unflatten(Module):
    """Split dim into unflattened_size, as torch.nn.Unflatten: (N, 784) -> (N, 1, 28, 28) for a CNN."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]):
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        self.x_shape = x.shape
        dim = self.dim % x.ndim
        if x.shape[dim] != math.prod(self.unflattened_size):
            raise ValueError(f"Unflatten expects dim {self.dim} of size {math.prod(self.unflattened_size)} "
                             f"to make {self.unflattened_size}, got input of shape {x.shape}")
        return x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1 :])

    def backward(self, dout):
        x_shape = self._cached("x_shape")
        self.x_shape = None
        return dout.reshape(x_shape)


class Dropout(Module):
    """Zero each element with probability p in training and scale the rest by 1 / (1 - p); identity in eval.

    The mask comes from `rng`, or from `mask_source(shape)` when set: the parity checker sets it to replay the
    torch twin's mask, so train-mode outputs compare exactly.
    """

    def __init__(self, p: float = 0.5, rng=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1], got {p}")
        self.p, self.rng, self.mask_source = p, np.random.default_rng(rng), None

    def forward(self, x):
        if not self.training or self.p == 0:
            self.scale = np.ones((), x.dtype)
            return x
        if self.p == 1:
            self.scale = np.zeros_like(x)
            return self.scale * x
        keep = self.mask_source(x.shape) if self.mask_source else self.rng.random(x.shape) >= self.p
        self.scale = keep.astype(x.dtype) / x.dtype.type(1 - self.p)  # (*) 0 or 1/(1-p)
        return x * self.scale

    def backward(self, dout):
        scale = self._cached("scale")
        self.scale = None
        return dout * scale

    def extra_repr(self):
        return f"p={self.p}"
