"""Convolution and pooling over (N, C, H, W) images in NumPy, vectorised over windows (no loop over pixels)."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layers import _check_input
from .module import Module, Parameter


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _check_image(x, layer: str, channels: int | None = None) -> None:
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        c = channels if channels is not None else "C"
        raise ValueError(f"{layer} expects input of shape (N, {c}, H, W), got {x.shape}")


def windows(x, kernel, stride, padding, fill=0.0) -> np.ndarray:
    """A view of every receptive field: (N, C, H, W) -> (N, C, Ho, Wo, kh, kw)."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, ::sh, ::sw]


def fold(dwin: np.ndarray, x_shape, kernel, stride, padding) -> np.ndarray:
    """The adjoint of `windows`: add each window's gradient back onto the pixels it came from."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = dwin.shape[2:4]
    dx = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dwin.dtype)
    for i in range(kh):  # one step per kernel offset; each adds a whole strided slice
        for j in range(kw):
            dx[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += dwin[:, :, :, :, i, j]
    return dx[:, :, ph : ph + h, pw : pw + w]


class Conv2d(Module):
    """Cross-correlation with weight (out_channels, in_channels, kh, kw), torch's layout and default init."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, *, bias: bool = True,
                 dtype=np.float32, rng=None):  # bias by keyword: torch's sixth and seventh are dilation and groups
        rng = np.random.default_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)  # torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype)) if bias else None
        self.cols = None

    def forward(self, x):
        _check_input(x, "Conv2d", self.weight.dtype)
        _check_image(x, "Conv2d", self.in_channels)
        self.x_shape = x.shape
        win = windows(x, self.kernel_size, self.stride, self.padding)  # (N, C, Ho, Wo, kh, kw)
        n, _, ho, wo = win.shape[:4]
        self.cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n, ho, wo, -1)  # (N, Ho, Wo, C*kh*kw)
        w = self.weight.data.reshape(self.out_channels, -1)  # (O, C*kh*kw)
        out = self.cols @ w.T  # (N, Ho, Wo, C*kh*kw) @ (C*kh*kw, O) -> (N, Ho, Wo, O)
        if self.bias is not None:
            out += self.bias.data
        return out.transpose(0, 3, 1, 2)  # (N, O, Ho, Wo)

    def backward(self, dout, input_grad: bool = True):
        cols = self._cached("cols")
        self.cols = None
        dout = dout.transpose(0, 2, 3, 1)  # (N, Ho, Wo, O)
        dout2 = dout.reshape(-1, self.out_channels)  # (N*Ho*Wo, O)
        dw = dout2.T @ cols.reshape(len(dout2), -1)  # (O, N*Ho*Wo) @ (N*Ho*Wo, C*kh*kw) -> (O, C*kh*kw)
        self.weight.accumulate(dw.reshape(self.weight.shape))
        if self.bias is not None:
            self.bias.accumulate(dout2.sum(axis=0))  # (O,)
        if not input_grad:  # the data needs no gradient: skip the product and the fold, as torch does
            return None
        dcols = dout @ self.weight.data.reshape(self.out_channels, -1)  # (N, Ho, Wo, C*kh*kw)
        n, ho, wo = dcols.shape[:3]
        dwin = dcols.reshape(n, ho, wo, self.in_channels, *self.kernel_size).transpose(0, 3, 1, 2, 4, 5)
        return fold(dwin, self.x_shape, self.kernel_size, self.stride, self.padding)  # (N, C, H, W)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.padding = _pair(padding)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"padding {self.padding} must be at most half of kernel_size {self.kernel_size}")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The largest value of each window; its gradient goes to the first maximum, as in torch."""

    def forward(self, x):
        _check_image(x, "MaxPool2d")
        self.x_shape = x.shape
        win = windows(x, self.kernel_size, self.stride, self.padding, fill=-np.inf)  # (N, C, Ho, Wo, kh, kw)
        flat = win.reshape(*win.shape[:4], -1)  # (N, C, Ho, Wo, kh*kw)
        self.argmax = flat.argmax(axis=-1)[..., None]  # (N, C, Ho, Wo, 1)
        return np.take_along_axis(flat, self.argmax, axis=-1)[..., 0]

    def backward(self, dout):
        argmax = self._cached("argmax")
        self.argmax = None
        dflat = np.zeros((*dout.shape, math.prod(self.kernel_size)), dtype=dout.dtype)  # (N, C, Ho, Wo, kh*kw)
        np.put_along_axis(dflat, argmax, dout[..., None], axis=-1)
        dwin = dflat.reshape(*dout.shape, *self.kernel_size)
        return fold(dwin, self.x_shape, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean of each window; zero padding counts towards the mean (torch's count_include_pad=True)."""

    def forward(self, x):
        _check_image(x, "AvgPool2d")
        self.x_shape = x.shape
        return windows(x, self.kernel_size, self.stride, self.padding).mean(axis=(-2, -1))

    def backward(self, dout):
        x_shape = self._cached("x_shape")
        self.x_shape = None
        dwin = np.broadcast_to((dout / math.prod(self.kernel_size))[..., None, None], (*dout.shape, *self.kernel_size))
        return fold(dwin, x_shape, self.kernel_size, self.stride, self.padding)
