"""Shared test helpers: inputs that can catch bugs, the one comparison assertion, and the one subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from torch_impl import to_torch
from torch_impl.parity import Report, compare, diff

ROOT = Path(__file__).resolve().parents[1]  # the repository: scripts/, examples/, ...

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


def close(name: str, actual, expected, rtol: float, atol: float = 0.0) -> None:
    """The one value assertion: shape and dtype first, then normwise max|a - b| <= atol + rtol * max|b|."""
    row = diff(name, actual, expected, rtol, atol)
    assert row.ok, f"{name}: max abs {row.max_abs:.2e}, normwise {row.max_rel:.2e} > rtol {rtol:g} {row.note}"


def run(*argv: str | os.PathLike, cwd: str | os.PathLike | None = None, env: dict | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """`python *argv` in a fresh process, one thread per library (two spin against each other on a busy CPU).

    A first argument such as "scripts/train_numpy.py" is taken relative to the repository (a .sh script runs under
    bash); `env` adds variables.
    """
    first = Path(argv[0]) if argv and not str(argv[0]).startswith("-") else None
    argv = (str(ROOT / first) if first and not first.is_absolute() else str(argv[0]), *map(str, argv[1:]))
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    interpreter = "bash" if argv[0].endswith(".sh") else sys.executable
    return subprocess.run([interpreter, *argv], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=timeout, check=False)


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
