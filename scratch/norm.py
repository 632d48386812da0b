"""Batch normalisation in NumPy, with torch's running statistics (momentum, unbiased running variance).

Inside, the features go last: (N, C), (N, C, L) or (N, C, H, W) is seen as a 2-D (M, C) array, so every statistic
is a reduction over axis 0. For a channels-last image (see scratch.conv) that view costs nothing.
"""

from __future__ import annotations

import numpy as np

from .layers import _check_input
from .module import Module, Parameter


def features_last(x: np.ndarray) -> np.ndarray:
    """(N, C, *) -> (M, C): one row per value of each feature; a view when C is already the last axis in memory."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def column_sums(x2: np.ndarray) -> np.ndarray:
    """(M, C) -> (C,): the sum over axis 0 as one BLAS product, many times faster than NumPy's loop over short rows."""
    return np.ones(len(x2), x2.dtype) @ x2


def features_back(x2: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of features_last: (M, C) -> a view of shape (N, C, *)."""
    n, c, *rest = shape
    return np.moveaxis(x2.reshape(n, *rest, c), -1, 1)


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
        self.x_shape, self.batch_stats = x.shape, self.training
        x2 = features_last(x)  # (M, C)
        if self.training:
            m = len(x2)  # values per feature
            if m < 2:
                raise ValueError(f"{self.layer} needs more than 1 value per feature in training, got input {x.shape}")
            mean = column_sums(x2) / m  # (C,)
            xc = x2 - mean  # (M, C), centred
            var = column_sums(np.square(xc)) / m  # (C,), the biased variance normalises
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * (m / (m - 1))
            self.num_batches_tracked = self.num_batches_tracked + 1
        else:
            xc = x2 - self.running_mean  # eval: mean and variance are constants
            var = self.running_var
        self.inv_std = 1 / np.sqrt(var + self.eps)  # (C,)
        self.xhat = xc * self.inv_std  # (M, C)
        if self.weight is None:
            return features_back(self.xhat, x.shape)
        out = self.xhat * self.weight.data
        out += self.bias.data
        return features_back(out, x.shape)

    def backward(self, dout):
        xhat = self._cached("xhat")
        self.xhat = None
        dout = features_last(dout)  # (M, C)
        dsum, dxhat_sum = column_sums(dout), column_sums(dout * xhat)  # (C,) each
        scale = self.inv_std
        if self.weight is not None:
            self.weight.accumulate(dxhat_sum)
            self.bias.accumulate(dsum)
            scale = scale * self.weight.data  # d(xhat) = dout * weight
        if self.batch_stats:  # the batch's mean and variance depend on every value
            m = len(dout)
            dout = dout - dsum / m - xhat * (dxhat_sum / m)
        return features_back(dout * scale, self.x_shape)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"


class BatchNorm1d(_BatchNorm):
    """Normalise (N, C) or (N, C, L) per feature C."""

    dims, layer = (2, 3), "BatchNorm1d"


class BatchNorm2d(_BatchNorm):
    """Normalise (N, C, H, W) per channel C."""

    dims, layer = (4,), "BatchNorm2d"
