"""Activations in NumPy: elementwise nonlinearities and softmax, each backward right below its forward."""

from __future__ import annotations

import math

import numpy as np

from .module import Module

_erf = np.frompyfunc(math.erf, 1, 1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(x: np.ndarray, dim: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


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


class _AlongDim(Module):
    """An activation that normalises along one dim (-1 by default, where torch's implicit choice warns)."""

    def __init__(self, dim: int = -1):
        self.dim = dim

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    def forward(self, x):
        e = np.exp(x - x.max(axis=self.dim, keepdims=True))
        self.out = e / e.sum(axis=self.dim, keepdims=True)
        return self.out

    def backward(self, dout):
        s = self._cached("out")
        self.out = None
        return s * (dout - (dout * s).sum(axis=self.dim, keepdims=True))  # full Jacobian, not s * (1 - s)


class LogSoftmax(_AlongDim):
    def forward(self, x):
        self.out = log_softmax(x, self.dim)
        return self.out

    def backward(self, dout):
        out = self._cached("out")
        self.out = None
        return dout - np.exp(out) * dout.sum(axis=self.dim, keepdims=True)


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1); at x == 0 the gradient is alpha, as in torch."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, dout):
        x = self._cached("x")
        self.x = None
        return np.where(x > 0, dout, dout * self.alpha * np.exp(np.minimum(x, 0)))

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SiLU(Module):
    """x * sigmoid(x), also called swish."""

    def forward(self, x):
        self.x, self.s = x, sigmoid(x)
        return x * self.s

    def backward(self, dout):
        x, s = self._cached("x"), self.s
        self.x = self.s = None
        return dout * s * (1 + x * (1 - s))


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold, as in torch."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        self.x = x
        bx = self.beta * x
        soft = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / self.beta  # no overflow for large |bx|
        return np.where(bx > self.threshold, x, soft)

    def backward(self, dout):
        x = self._cached("x")
        self.x = None
        bx = self.beta * x
        return np.where(bx > self.threshold, dout, dout * sigmoid(bx))

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clipped to [min_val, max_val]; the gradient is 0 at and beyond both ends, as in torch."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        if max_val <= min_val:
            raise ValueError(f"Hardtanh needs max_val > min_val, got min_val={min_val}, max_val={max_val}")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        self.inside = (x > self.min_val) & (x < self.max_val)
        return np.clip(x, self.min_val, self.max_val).astype(x.dtype)

    def backward(self, dout):
        dx = dout * self._cached("inside")
        self.inside = None
        return dx

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"
