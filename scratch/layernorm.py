"""Layer and group normalisation in NumPy: statistics per sample, never per batch, so train and eval agree."""

from __future__ import annotations

import numpy as np

from .layers import _check_input
from .module import Module, Parameter


def normalize(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(x - mean) / sqrt(var + eps) over `axes` (biased variance), and 1 / sqrt(var + eps) kept for backward."""
    inv_std = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return (x - x.mean(axis=axes, keepdims=True)) * inv_std, inv_std


def normalize_backward(dxhat: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, axes: tuple[int, ...]):
    """The gradient through normalize: mean and variance depend on every value they were taken over."""
    m = xhat.size // inv_std.size  # values per statistic
    dsum = dxhat.sum(axis=axes, keepdims=True)
    dxhat_sum = (dxhat * xhat).sum(axis=axes, keepdims=True)
    return inv_std / m * (m * dxhat - dsum - xhat * dxhat_sum)


class LayerNorm(Module):
    """Normalise over the last len(normalized_shape) dims of each sample, then scale by weight and add bias."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=np.float32):
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if elementwise_affine and bias else None
        self.xhat = None

    def forward(self, x):
        _check_input(x, "LayerNorm", x.dtype if self.weight is None else self.weight.dtype)
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k :] != self.normalized_shape:
            raise ValueError(f"LayerNorm expects input of shape (*, {', '.join(map(str, self.normalized_shape))}), "
                             f"got {x.shape}")
        self.axes = tuple(range(x.ndim - k, x.ndim))  # the normalised dims, last
        self.xhat, self.inv_std = normalize(x, self.axes, self.eps)
        out = self.xhat if self.weight is None else self.xhat * self.weight.data
        return out if self.bias is None else out + self.bias.data

    def backward(self, dout):
        xhat = self._cached("xhat")
        self.xhat = None
        batch_axes = tuple(range(dout.ndim - len(self.normalized_shape)))  # every dim the parameters are shared by
        if self.bias is not None:
            self.bias.accumulate(dout.sum(axis=batch_axes))
        if self.weight is not None:
            self.weight.accumulate((dout * xhat).sum(axis=batch_axes))
            dout = dout * self.weight.data  # d(xhat)
        return normalize_backward(dout, xhat, self.inv_std, self.axes)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Split the C channels of (N, C, *) into num_groups groups, normalise each group of each sample, then scale
    and shift per channel."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, dtype=np.float32):
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(np.ones(num_channels, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, dtype)) if affine else None
        self.xhat = None

    def forward(self, x):
        _check_input(x, "GroupNorm", x.dtype if self.weight is None else self.weight.dtype)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm expects input of shape (N, {self.num_channels}, *), got {x.shape}")
        self.x_shape = x.shape
        grouped = x.reshape(x.shape[0], self.num_groups, -1)  # (N, G, C/G * rest)
        self.xhat, self.inv_std = normalize(grouped, (2,), self.eps)
        self.channel = (1, -1) + (1,) * (x.ndim - 2)  # broadcast a (C,) vector over (N, C, *)
        out = self.xhat.reshape(x.shape)
        if self.weight is None:
            return out
        return out * self.weight.data.reshape(self.channel) + self.bias.data.reshape(self.channel)

    def backward(self, dout):
        xhat = self._cached("xhat")
        self.xhat = None
        if self.weight is not None:
            axes = (0, *range(2, dout.ndim))  # every dim but the channels
            self.weight.accumulate((dout * xhat.reshape(dout.shape)).sum(axis=axes))
            self.bias.accumulate(dout.sum(axis=axes))
            dout = dout * self.weight.data.reshape(self.channel)  # d(xhat)
        dxhat = dout.reshape(xhat.shape)  # (N, G, C/G * rest)
        return normalize_backward(dxhat, xhat, self.inv_std, (2,)).reshape(self.x_shape)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
