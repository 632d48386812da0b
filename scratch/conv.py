"""Convolution and pooling over (N, C, H, W) images in NumPy: im2col, one matrix product, col2im.

Inside, every layer works channels-last: it takes the (N, H, W, C) view of its input and returns the (N, C, H, W)
view of a channels-last result (torch calls this the channels_last memory format). Shapes stay torch's at every
layer boundary, while a CNN's activations stay in one memory layout from the first convolution to Flatten.

A layer keeps its large internal arrays in `work` between calls (`work_array`: the padded input, the im2col matrix,
col2im's accumulator, max pooling's masks), so NumPy does not hand them back to the OS and fault them in again every
step; what a forward or backward returns is always a new array of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .layers import _check_input
from .module import Module, Parameter


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _check_image(x, layer: str, channels: int | None = None) -> None:
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        c = channels if channels is not None else "C"
        raise ValueError(f"{layer} expects input of shape (N, {c}, H, W), got {x.shape}")


def channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> the (N, H, W, C) view: free when x is itself a view of channels-last memory."""
    return x.transpose(0, 2, 3, 1)


def channels_first(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> the (N, C, H, W) view that layers hand on."""
    return x.transpose(0, 3, 1, 2)


def work_array(work: dict, name: str, shape: tuple[int, ...], dtype, fill=None) -> np.ndarray:
    """The array `name` that a layer keeps in `work` between calls, made anew (filled with `fill`) only when the shape
    or dtype changes: NumPy would otherwise hand back large temporaries to the OS and fault them in every step."""
    array = work.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        work.pop(name, None)  # release the old one before making the new one
        array = work[name] = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
    return array


def windows(x, kernel, stride, padding, fill=0.0, work=None) -> np.ndarray:
    """A view of every receptive field of a channels-last image: (N, H, W, C) -> (N, Ho, Wo, kh, kw, C)."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:  # a padded channels-last copy; a layer's `work` keeps it, so its border is filled once
        n, h, w, c = x.shape
        padded = work_array({} if work is None else work, "padded", (n, h + 2 * ph, w + 2 * pw, c), x.dtype, fill)
        padded[:, ph : ph + h, pw : pw + w] = x
        x = padded
    win = sliding_window_view(x, kernel, axis=(1, 2))[:, ::sh, ::sw]  # (N, Ho, Wo, C, kh, kw)
    return win.transpose(0, 1, 2, 4, 5, 3)


def im2col(win: np.ndarray, ones: bool = False, work=None) -> np.ndarray:
    """Copy the windows (N, Ho, Wo, kh, kw, C) into one matrix (N*Ho*Wo, kh*kw*C), plus a column of ones if asked."""
    n, ho, wo, kh, kw, c = win.shape
    shape = (n * ho * wo, kh * kw * c + ones)
    cols = work_array({} if work is None else work, "cols", shape, win.dtype, fill=1 if ones else None)  # ones kept
    *_, row, item = cols.strides
    view = as_strided(cols, win.shape, (wo * ho * row, wo * row, row, kw * c * item, c * item, item))  # of cols[:, :k]
    view[...] = win  # the one copy: every window becomes a row
    return cols


def fold(grad_at: Callable[[int, int], np.ndarray], x_shape, dtype, stride, padding, kernel, work=None) -> np.ndarray:
    """col2im, the adjoint of `windows`: add each window's gradient back onto the pixels it came from.

    grad_at(i, j) is the gradient (N, Ho, Wo, C) of the pixel at offset (i, j) of every window; the result is the
    channels-last gradient (N, H, W, C) of the image.
    """
    n, h, w, c = x_shape
    (sh, sw), (ph, pw) = stride, padding
    dx = work_array({} if work is None else work, "dx", (n, h + 2 * ph, w + 2 * pw, c), dtype)
    dx.fill(0)
    for i in range(kernel[0]):  # one step per kernel offset; each adds a whole strided slice
        for j in range(kernel[1]):
            grad = grad_at(i, j)  # (N, Ho, Wo, C)
            dx[:, i : i + sh * grad.shape[1] : sh, j : j + sw * grad.shape[2] : sw] += grad
    return dx[:, ph : ph + h, pw : pw + w]


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
        self.work = {}  # the padded input, im2col's matrix and each offset's input gradient, kept between calls

    def forward(self, x):
        _check_input(x, "Conv2d", self.weight.dtype)
        _check_image(x, "Conv2d", self.in_channels)
        x = channels_last(x)  # (N, H, W, C)
        self.x_shape = x.shape
        win = windows(x, self.kernel_size, self.stride, self.padding, work=self.work)  # (N, Ho, Wo, kh, kw, C)
        n, ho, wo = win.shape[:3]
        self.cols = im2col(win, ones=self.bias is not None, work=self.work)  # (M, kh*kw*C [+ 1]), one row per output pixel
        out = self.cols @ self.matrix()  # (M, kh*kw*C [+ 1]) @ (kh*kw*C [+ 1], O) -> (M, O)
        return channels_first(out.reshape(n, ho, wo, self.out_channels))  # (N, O, Ho, Wo)

    def matrix(self) -> np.ndarray:
        """The weight as one (kh*kw*C, O) matrix, in im2col's column order, with the bias as a last row."""
        w = self.weight.data.transpose(2, 3, 1, 0).reshape(-1, self.out_channels)  # (kh*kw*C, O)
        return w if self.bias is None else np.concatenate([w, self.bias.data[None]])

    def backward(self, dout, input_grad: bool = True):
        cols = self._cached("cols")
        self.cols = None
        dout = channels_last(dout)  # (N, Ho, Wo, O)
        n, ho, wo, _ = dout.shape
        dout2 = dout.reshape(-1, self.out_channels)  # (M, O)
        dw = dout2.T @ cols  # (O, M) @ (M, kh*kw*C [+ 1]) -> (O, kh*kw*C [+ 1])
        kh, kw = self.kernel_size
        k = kh * kw * self.in_channels
        self.weight.accumulate(dw[:, :k].reshape(-1, kh, kw, self.in_channels).transpose(0, 3, 1, 2))  # (O, C, kh, kw)
        if self.bias is not None:
            self.bias.accumulate(dw[:, k])  # the ones column: the sum of dout over every output pixel
        if not input_grad:  # the data needs no gradient: skip the product and col2im, as torch does
            return None
        w = self.weight.data.transpose(2, 3, 0, 1)  # (kh, kw, O, C)
        dcol = work_array(self.work, "dcol", (len(dout2), self.in_channels), dout2.dtype)  # (M, C)

        def grad_at(i, j):  # one product per kernel offset: (M, O) @ (O, C) -> (M, C)
            return np.matmul(dout2, w[i, j], out=dcol).reshape(n, ho, wo, -1)

        dx = fold(grad_at, self.x_shape, dout.dtype, self.stride, self.padding, self.kernel_size, self.work)
        return channels_first(dx.copy())  # (N, C, H, W), a copy: the work array is refilled by the next backward

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
        self.halves = self.kernel_size == self.stride == (2, 2) and self.padding == (0, 0)  # the fast 2x2 case
        self.work = {}  # the output, the input gradient and the 2x2 case's masks, kept between calls

    def _channels_last_input(self, x: np.ndarray) -> np.ndarray:
        """Check an (N, C, H, W) input, remember its channels-last shape and return its (N, H, W, C) view."""
        _check_image(x, type(self).__name__)
        x = channels_last(x)
        self.x_shape = x.shape
        return x

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def quarters(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The four pixels of every 2x2 window, as strided views of (N, H, W, C) in the window's row-major order."""
    ho, wo = x.shape[1] // 2, x.shape[2] // 2  # an odd last row or column is dropped, as torch does
    return tuple(x[:, i : 2 * ho : 2, j : 2 * wo : 2] for i in (0, 1) for j in (0, 1))  # (N, Ho, Wo, C) each


class MaxPool2d(_Pool2d):
    """The largest value of each window; its gradient goes to the first maximum, as in torch."""

    def forward(self, x):
        x = self._channels_last_input(x)  # (N, H, W, C)
        if self.halves:
            a, b, c, d = quarters(x)
            top, bottom = (work_array(self.work, name, a.shape, x.dtype) for name in ("top", "bottom"))
            np.maximum(a, b, out=top)  # (N, Ho, Wo, C)
            np.maximum(c, d, out=bottom)
            left_top, left_bottom, top_first = (work_array(self.work, name, a.shape, bool)
                                                for name in ("left_top", "left_bottom", "top_first"))
            self.first = (np.greater_equal(a, b, out=left_top), np.greater_equal(c, d, out=left_bottom),
                          np.greater_equal(top, bottom, out=top_first))  # where ties go: left, left, top
            return channels_first(np.maximum(top, bottom))
        win = windows(x, self.kernel_size, self.stride, self.padding, fill=-np.inf)  # (N, Ho, Wo, kh, kw, C)
        flat = win.reshape(*win.shape[:3], -1, win.shape[-1])  # (N, Ho, Wo, kh*kw, C)
        self.first = flat.argmax(axis=3)[:, :, :, None]  # (N, Ho, Wo, 1, C), the first maximum
        return channels_first(np.take_along_axis(flat, self.first, axis=3)[:, :, :, 0])

    def backward(self, dout):
        first = self._cached("first")
        self.first = None
        dout = np.ascontiguousarray(channels_last(dout))  # (N, Ho, Wo, C)
        if self.halves:
            left_top, left_bottom, top = first
            n, h, w, c = self.x_shape
            dx = (np.zeros if h % 2 or w % 2 else np.empty)((n, h, w, c), dtype=dout.dtype)  # odd: the last is unused
            da, db, dc, dd = quarters(dx)
            dtop = np.multiply(dout, top, out=work_array(self.work, "top", dout.shape, dout.dtype))
            # x * 1 - x and x * 0 - x are exact: each gradient is moved, never rounded
            np.multiply(dtop, left_top, out=da)
            np.subtract(dtop, da, out=db)
            dbottom = np.subtract(dout, dtop, out=dtop)
            np.multiply(dbottom, left_bottom, out=dc)
            np.subtract(dbottom, dc, out=dd)
            return channels_first(dx)
        n, ho, wo, c = dout.shape
        dflat = np.zeros((n, ho, wo, math.prod(self.kernel_size), c), dtype=dout.dtype)  # (N, Ho, Wo, kh*kw, C)
        np.put_along_axis(dflat, first, dout[:, :, :, None], axis=3)
        dwin = dflat.reshape(n, ho, wo, *self.kernel_size, c)  # (N, Ho, Wo, kh, kw, C)
        dx = fold(lambda i, j: dwin[:, :, :, i, j], self.x_shape, dout.dtype, self.stride, self.padding,
                  self.kernel_size)
        return channels_first(dx)


class AvgPool2d(_Pool2d):
    """The mean of each window; zero padding counts towards the mean (torch's count_include_pad=True)."""

    def forward(self, x):
        x = self._channels_last_input(x)  # (N, H, W, C)
        if self.halves:
            a, b, c, d = quarters(x)
            return channels_first((a + b + c + d) * x.dtype.type(0.25))
        return channels_first(windows(x, self.kernel_size, self.stride, self.padding).mean(axis=(3, 4)))

    def backward(self, dout):
        x_shape = self._cached("x_shape")
        self.x_shape = None
        share = channels_last(dout) / math.prod(self.kernel_size)  # (N, Ho, Wo, C): each pixel's share
        return channels_first(fold(lambda i, j: share, x_shape, dout.dtype, self.stride, self.padding,
                                   self.kernel_size))
