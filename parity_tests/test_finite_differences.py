"""The NumPy backward on its own: every layer, activation, loss and a whole model against central differences.

A mistake shared by both twins would pass every parity test; finite differences of the NumPy forward catch it in
the NumPy backward. (The torch side runs torch's own layers, built by `to_torch`; test_signatures.py checks that
`to_torch` builds what torch's own constructors build, so torch.autograd.gradcheck, which checks torch against
itself, is not run.)
"""

import numpy as np
import pytest
from helpers import FD_RTOL, check_finite_differences, close, numerical_grad, randn

import scratch
import scratch.nn as snn

LAYERS = [
    lambda: snn.Linear(5, 3, dtype=np.float64, rng=0),
    snn.ReLU, lambda: snn.LeakyReLU(0.1), snn.Sigmoid, snn.Tanh, snn.GELU, lambda: snn.GELU("tanh"),
    snn.Softmax, snn.LogSoftmax, lambda: snn.Softmax(dim=0),
    lambda: scratch.mlp([5, 4, 3], "tanh", dtype=np.float64, seed=0),
]
LOSSES = [
    (snn.CrossEntropyLoss(), np.array([0, 2, 1, 1])),
    (snn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2), np.array([0, 2, 1, 1])),
    (snn.NLLLoss(), np.array([2, 0, 0, 1])),
    (snn.MSELoss(), randn(4, 3, seed=5)),
    (snn.BCEWithLogitsLoss(reduction="sum"), np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=float)),
]


@pytest.mark.parametrize("make", LAYERS)
def test_numpy_backward_matches_finite_differences(make):
    check_finite_differences(make(), randn(4, 5, seed=1))


@pytest.mark.parametrize("loss_fn, target", LOSSES)
def test_numpy_loss_backward_matches_finite_differences(loss_fn, target):
    pred = randn(4, 3, seed=3)
    loss_fn(pred, target)
    analytic = loss_fn.backward()  # before the central differences run the forward again
    close(type(loss_fn).__name__, analytic, numerical_grad(lambda: float(loss_fn(pred, target)), pred), FD_RTOL)


def test_central_differences_reach_a_strided_view():
    """A transposed view's reshape is a copy: the perturbation must still reach the array the forward reads."""
    w = randn(3, 4, seed=3)
    view = w.T  # (4, 3), not contiguous
    close("d sum(w**3)", numerical_grad(lambda: float(np.sum(w**3)), view), 3 * view**2, FD_RTOL)
