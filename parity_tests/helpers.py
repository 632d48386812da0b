"""Shared test helpers: inputs that can catch bugs, and the one-line parity assertion."""

from __future__ import annotations

import numpy as np

from torch_impl import to_torch
from torch_impl.parity import Report, compare

DTYPES = [np.float64, np.float32]


def randn(*shape, dtype=np.float64, seed=0, zeros: bool = False) -> np.ndarray:
    """Standard-normal values (both signs); with zeros=True about a fifth of them are exactly 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if zeros:
        x[rng.random(shape) < 0.2] = 0.0
    return x.astype(dtype)


def check(module, *inputs, **kwargs) -> Report:
    """Compare a scratch module with the torch twin built by to_torch; fail with the report's table."""
    report = compare(module, to_torch(module), *inputs, **kwargs)
    assert report.ok, f"\n{report}"
    return report


def numerical_grad(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of `array`, perturbed in place."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + eps
        up = f()
        array[i] = old - eps
        down = f()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def assert_close(name, analytic, numeric):
    err = np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-12)
    assert err < 1e-6, f"{name}: finite differences disagree with backward by {err:.1e} (normwise)"


def check_finite_differences(layer, x: np.ndarray) -> None:
    """The layer's backward against central differences of sum(layer(x) * dout), for a random dout."""
    dout = randn(*layer(x).shape, seed=2)

    def loss():
        return float(np.sum(layer(x) * dout))

    layer(x)
    dx = layer.backward(dout)
    assert_close("input", dx, numerical_grad(loss, x))
    for name, param in layer.named_parameters():
        assert_close(name, param.grad, numerical_grad(loss, param.data))
