"""The numerical reference: central differences of the user's forward in float64, with kinks reported, not failed.

Each differentiated element costs two forward calls (x + eps and x - eps), so n elements cost 2n + 2 calls. The
one-sided differences come free from the same calls: where they disagree by more than KINK times the largest
gradient, the point sits within eps of a kink (ReLU at 0, a tie in a max) and the element is not compared.
"""

from __future__ import annotations

import numpy as np
import torch

from .inputs import RANDOM, Leaf, rebuild, result_of
from .reach import borrowed
from .report import as_numpy

EPS = 1e-6  # correct float64 code measured at most 2e-8 normwise from its exact gradient; real bugs about 8e-4
RTOL = 1e-6  # the numerical reference's default tolerance
KINK = 1e-3  # |forward - backward difference| above KINK * the largest gradient marks a non-differentiable point


def numerical_reference(forward, arrays: dict, leaves: list[Leaf], accepted: set, kind: str, dout, wanted: set,
                        eps: float = EPS):
    """Returns (grads, kinks): the central-difference gradient (float64) of each wanted array and a boolean mask of
    its elements that sit at a non-differentiable point."""
    copies = {}
    for leaf in leaves:
        if not leaf.differentiable:
            copies[leaf.name] = leaf.value
        elif leaf.is_torch:
            copies[leaf.name] = leaf.value.detach().to("cpu", torch.float64, copy=True)
        else:
            copies[leaf.name] = np.array(leaf.value, dtype=np.float64)
    kwargs = rebuild(arrays, leaves, copies)
    d = None if kind != "array" else as_numpy(dout).astype(np.float64)

    def objective() -> float:
        value = as_numpy(result_of(forward(**{key: kwargs[key] for key in accepted})).value).astype(np.float64)
        return float(value) if d is None else float(np.sum(value * d))

    held = [leaf for leaf in leaves if leaf.key not in accepted]
    central, jumps = {}, {}
    with borrowed([forward], {leaf.name: leaf.value for leaf in held}, {leaf.name: copies[leaf.name] for leaf in held},
                  skip=[arrays]):
        f0 = objective()
        if objective() != f0:
            raise ValueError(RANDOM)
        for leaf in leaves:
            if leaf.differentiable and leaf.name in wanted:
                central[leaf.name], jumps[leaf.name] = differences(objective, copies[leaf.name], f0, eps)
    scale = max((float(np.max(np.abs(g), initial=0.0)) for g in central.values()), default=0.0)
    noise = 100 * np.finfo(np.float64).eps * max(abs(f0), np.finfo(np.float64).tiny) / eps
    kinks = {name: jump > KINK * scale + noise for name, jump in jumps.items()}
    return central, kinks


def differences(objective, array, f0: float, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """Central differences and |forward - backward| one-sided differences, perturbing `array` in place."""
    values = array.numpy() if isinstance(array, torch.Tensor) else array  # a view: writes reach the forward
    central, jump = np.zeros(values.shape), np.zeros(values.shape)
    for i in np.ndindex(values.shape):  # index the array itself: a reshape of a strided view would be a copy
        old = values[i]
        values[i] = old + eps
        up = objective()
        values[i] = old - eps
        down = objective()
        values[i] = old
        central[i] = (up - down) / (2 * eps)
        jump[i] = abs((up - f0) - (f0 - down)) / eps
    return central, jump
