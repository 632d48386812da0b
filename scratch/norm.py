"""Batch normalisation in NumPy, with torch's running statistics (momentum, unbiased running variance)."""

from __future__ import annotations

import numpy as np

from .layers import _check_input
from .module import Module, Parameter


class _BatchNorm(Module):
    dims: tuple[int, ...] = ()  # input ndims accepted
    layer = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 dtype=np.float32):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype))
        self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        self.xhat = None

    def forward(self, x):
        _check_input(x, self.layer, self.running_mean.dtype)
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            raise ValueError(f"{self.layer} expects input of {' or '.join(f'{d}' for d in self.dims)} dims with "
                             f"{self.num_features} features on dim 1, got {x.shape}")
        axes = (0, *range(2, x.ndim))  # every dim but the features
        shape = (1, -1) + (1,) * (x.ndim - 2)  # broadcast a (C,) vector over x
        if self.training:
            m = x.size // self.num_features  # values per feature
            if m < 2:
                raise ValueError(f"{self.layer} needs more than 1 value per feature in training, got input {x.shape}")
            mean, var = x.mean(axis=axes), x.var(axis=axes)  # (C,), biased variance normalises
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * (m / (m - 1))
            self.num_batches_tracked = self.num_batches_tracked + 1
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = (1 / np.sqrt(var + self.eps)).reshape(shape)  # (1, C, 1, ...)
        self.xhat = (x - mean.reshape(shape)) * self.inv_std
        self.axes, self.shape, self.batch_stats = axes, shape, self.training
        if self.weight is None:
            return self.xhat
        return self.xhat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)

    def backward(self, dout):
        xhat = self._cached("xhat")
        self.xhat = None
        if self.weight is not None:
            self.weight.accumulate((dout * xhat).sum(axis=self.axes))
            self.bias.accumulate(dout.sum(axis=self.axes))
            dout = dout * self.weight.data.reshape(self.shape)  # d(xhat)
        if not self.batch_stats:  # eval: mean and variance are constants
            return dout * self.inv_std
        m = dout.size // self.num_features
        dsum = dout.sum(axis=self.axes, keepdims=True)
        dxhat_sum = (dout * xhat).sum(axis=self.axes, keepdims=True)
        return self.inv_std / m * (m * dout - dsum - xhat * dxhat_sum)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"


class BatchNorm1d(_BatchNorm):
    """Normalise (N, C) or (N, C, L) per feature C."""

    dims, layer = (2, 3), "BatchNorm1d"


class BatchNorm2d(_BatchNorm):
    """Normalise (N, C, H, W) per channel C."""

    dims, layer = (4,), "BatchNorm2d"
