"""Layers and activations in NumPy: each forward caches what its backward needs, and backward sits right below."""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .module import Module, Parameter

_erf = np.frompyfunc(math.erf, 1, 1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(x: np.ndarray, dim: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


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


class ReLU(Module):
    """max(x, 0); the gradient at exactly 0 is 0, as in torch."""

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        dx = dout * self._cached("mask")
        self.mask = None
        return dx


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, self.negative_slope * x)

    def backward(self, dout):
        dx = np.where(self._cached("mask"), dout, self.negative_slope * dout)
        self.mask = None
        return dx

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        out = self._cached("out")
        self.out = None
        return dout * out * (1 - out)


class Tanh(Module):
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        out = self._cached("out")
        self.out = None
        return dout * (1 - out * out)


class GELU(Module):
    """x * Phi(x) with the exact normal CDF, or torch's tanh approximation when approximate='tanh'."""

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        if self.approximate == "tanh":
            self.t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)).astype(x.dtype))

    def backward(self, dout):
        x = self._cached("x")
        self.x = None
        if self.approximate == "tanh":
            t = self.t
            dinner = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2)
            return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
        cdf = 0.5 * (1 + _erf(x / math.sqrt(2)).astype(x.dtype))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dout * (cdf + x * pdf)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x):
        e = np.exp(x - x.max(axis=self.dim, keepdims=True))
        self.out = e / e.sum(axis=self.dim, keepdims=True)
        return self.out

    def backward(self, dout):
        s = self._cached("out")
        self.out = None
        return s * (dout - (dout * s).sum(axis=self.dim, keepdims=True))  # full Jacobian, not s * (1 - s)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x):
        self.out = log_softmax(x, self.dim)
        return self.out

    def backward(self, dout):
        out = self._cached("out")
        self.out = None
        return dout - np.exp(out) * dout.sum(axis=self.dim, keepdims=True)

    def extra_repr(self):
        return f"dim={self.dim}"


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
