"""Function pairs returning (out, cache), weights shaped (in, out): the CS231n assignments' style, checked in one call.

    python examples/cs231n_layers.py

Each layer is a forward returning (out, cache) and a backward taking (dout, cache). A check_* function below is
all a user writes to check one pair; the planted bug is batch norm's backward that forgets the paths through the
mean and the variance, a classic, and the report names x (gamma and beta stay right).
"""

from __future__ import annotations

import numpy as np

from torch_impl.parity import Report, check_grads


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, D) @ (D, M) + (M,) -> (N, M)
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D)
    dw = x.reshape(x.shape[0], -1).T @ dout  # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    mean, var = x.mean(axis=0), x.var(axis=0)  # (D,)
    xhat = (x - mean) / np.sqrt(var + eps)  # (N, D)
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", 0) + (1 - momentum) * mean
    bn_param["running_var"] = momentum * bn_param.get("running_var", 1) + (1 - momentum) * var
    return gamma * xhat + beta, (xhat, gamma, var + eps)


def batchnorm_backward(dout, cache):
    xhat, gamma, var_eps = cache
    n = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma  # (N, D)
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var_eps))
    return dx, dgamma, dbeta


def batchnorm_backward_planted(dout, cache):
    """The planted bug: dx as if the batch mean and variance were constants."""
    xhat, gamma, var_eps = cache
    return dout * gamma / np.sqrt(var_eps), (dout * xhat).sum(axis=0), dout.sum(axis=0)


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, height, width = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, f, 1 + (height + 2 * pad - hh) // stride, 1 + (width + 2 * pad - ww) // stride), x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = xp[:, :, i * stride : i * stride + hh, j * stride : j * stride + ww]  # (N, C, HH, WW)
            for k in range(f):
                out[:, k, i, j] = (window * w[k]).sum(axis=(1, 2, 3)) + b[k]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    hh, ww = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
            for k in range(w.shape[0]):
                dw[k] += (xp[:, :, rows, cols] * dout[:, k, i, j, None, None, None]).sum(axis=0)
                dxp[:, :, rows, cols] += w[k] * dout[:, k, i, j, None, None, None]
    return dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_naive(x, pool_param):
    size, stride = pool_param["pool_height"], pool_param["stride"]
    n, c, height, width = x.shape
    out = np.zeros((n, c, 1 + (height - size) // stride, 1 + (width - size) // stride), x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * stride : i * stride + size, j * stride : j * stride + size].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    size, stride = pool_param["pool_height"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
            window = x[:, :, rows, cols]  # (N, C, size, size)
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, rows, cols] += mask * dout[:, :, i, j, None, None]
    return dx


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].sum() / n
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


# The checks: each function body is the glue a user writes (counted by the tests, at most 5 statements).


def check_affine(x, w, b) -> Report:
    _, cache = affine_forward(x, w, b)
    return check_grads(lambda x, w, b: affine_forward(x, w, b)[0], {"x": x, "w": w, "b": b},
                       lambda d: affine_backward(d, cache))


def check_relu(x) -> Report:
    _, cache = relu_forward(x)
    return check_grads(lambda x: relu_forward(x)[0], {"x": x}, lambda d: relu_backward(d, cache))


def check_batchnorm(x, gamma, beta, backward=batchnorm_backward) -> Report:
    _, cache = batchnorm_forward(x, gamma, beta, {})
    return check_grads(lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, {})[0],
                       {"x": x, "gamma": gamma, "beta": beta}, lambda d: backward(d, cache))


def check_conv(x, w, b) -> Report:
    _, cache = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    return check_grads(lambda x, w, b: conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})[0],
                       {"x": x, "w": w, "b": b}, lambda d: conv_backward_naive(d, cache))


def check_max_pool(x) -> Report:
    _, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    return check_grads(lambda x: max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0],
                       {"x": x}, lambda d: max_pool_backward_naive(d, cache))


def check_softmax_loss(x, y) -> Report:
    _, dx = softmax_loss(x, y)
    return check_grads(lambda x, y: softmax_loss(x, y)[0], {"x": x, "y": y}, {"x": dx})


PLANTED = {"check": "batchnorm", "bug": "batch norm dx ignores the batch mean and variance", "expected": "x"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    """Every check on fresh data (inputs on both sides of zero, exact zeros for ReLU, non-square shapes)."""
    rng = np.random.default_rng(seed)

    def randn(*shape):
        return rng.standard_normal(shape).astype(dtype)

    relu_x = randn(4, 6)
    relu_x[rng.random(relu_x.shape) < 0.2] = 0  # ReLU's kink: the gradient there is 0
    return {
        "affine": check_affine(randn(4, 2, 3), randn(6, 5), randn(5)),
        "relu": check_relu(relu_x),
        "batchnorm": check_batchnorm(randn(8, 5) * 3 + 1, randn(5), randn(5),
                                     batchnorm_backward_planted if planted else batchnorm_backward),
        "conv": check_conv(randn(2, 3, 5, 5), randn(4, 3, 3, 3), randn(4)),
        "max_pool": check_max_pool(randn(2, 3, 4, 6)),
        "softmax_loss": check_softmax_loss(randn(5, 4), rng.integers(0, 4, 5)),
    }


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        for name, report in run(dtype).items():
            print(f"\n{name} ({np.dtype(dtype)}):\n{report}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
