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
