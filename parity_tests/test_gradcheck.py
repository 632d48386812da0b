"""Each side on its own: finite differences check the NumPy backward, torch.autograd.gradcheck the torch twin.

A mistake shared by both sides would pass every parity test; these catch it.
"""

import numpy as np
import pytest
import torch
from helpers import assert_close, check_finite_differences, numerical_grad, randn

import scratch
import scratch.nn as snn
from torch_impl import to_torch

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
    assert_close(type(loss_fn).__name__, loss_fn.backward(), numerical_grad(lambda: float(loss_fn(pred, target)), pred))


@pytest.mark.parametrize("make", LAYERS)
def test_torch_twin_passes_gradcheck(make):
    twin = to_torch(make())
    x = torch.from_numpy(randn(4, 5, seed=1)).requires_grad_()
    assert torch.autograd.gradcheck(twin, (x,))


@pytest.mark.parametrize("loss_fn, target", LOSSES)
def test_torch_loss_passes_gradcheck(loss_fn, target):
    twin = to_torch(loss_fn)
    pred = torch.from_numpy(randn(4, 3, seed=3)).requires_grad_()
    t_target = torch.from_numpy(target)
    assert torch.autograd.gradcheck(lambda p: twin(p, t_target), (pred,))
