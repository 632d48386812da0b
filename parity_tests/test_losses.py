"""One-line parity tests for every loss, reduction and dtype: the loss value and d(loss)/d(input)."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, check, close, randn

import scratch.nn as snn
from torch_impl import to_torch

REDUCTIONS = ["mean", "sum"]
rng = np.random.default_rng(0)
CLASSES = rng.integers(0, 4, 6)  # targets for (6, 4) predictions
BINARY = rng.integers(0, 2, (6, 4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy(reduction, dtype):
    check(snn.Identity(), randn(6, 4, dtype=dtype), target=CLASSES, loss=snn.CrossEntropyLoss(reduction=reduction))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.1, 1.0])
def test_cross_entropy_label_smoothing(smoothing, dtype):
    loss = snn.CrossEntropyLoss(label_smoothing=smoothing)
    check(snn.Identity(), randn(6, 4, dtype=dtype), target=CLASSES, loss=loss)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll(reduction, dtype):
    check(snn.LogSoftmax(), randn(6, 4, dtype=dtype), target=CLASSES, loss=snn.NLLLoss(reduction=reduction))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse(reduction, dtype):
    check(snn.Identity(), randn(6, 4, dtype=dtype), target=randn(6, 4, dtype=dtype, seed=1), loss=snn.MSELoss(reduction=reduction))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction, dtype):
    loss = snn.BCEWithLogitsLoss(reduction=reduction)
    check(snn.Identity(), 5 * randn(6, 4, dtype=dtype), target=BINARY.astype(dtype), loss=loss)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_large_logits_stay_finite(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]], dtype=dtype)
    check(snn.Identity(), logits, target=np.array([1, 2]), loss=snn.CrossEntropyLoss())


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_keeps_dtype(dtype):
    loss = snn.CrossEntropyLoss()
    assert loss(randn(3, 4, dtype=dtype), CLASSES[:3]).dtype == dtype
    assert loss.backward().dtype == dtype


EMPTY_TARGETS = {"MSELoss": np.zeros((0, 4)), "BCEWithLogitsLoss": np.zeros((0, 4)),
                 "CrossEntropyLoss": np.zeros(0, np.int64), "NLLLoss": np.zeros(0, np.int64)}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(EMPTY_TARGETS))
def test_an_empty_batch_gives_torchs_value_and_an_empty_gradient(name, reduction):
    # torch: the mean over no items is nan, the sum 0; the gradient has the prediction's (empty) shape
    loss_fn, target = getattr(snn, name)(reduction=reduction), EMPTY_TARGETS[name]
    pred, t_pred = np.zeros((0, 4)), torch.zeros((0, 4), dtype=torch.float64, requires_grad=True)
    t_target = torch.from_numpy(target)
    expected = to_torch(loss_fn)(t_pred, t_target)
    expected.backward()
    value = loss_fn(pred, target)
    assert np.isnan(value) == expected.isnan().item() and np.asarray(value).dtype == np.float64
    if reduction == "sum":
        close("loss", value, expected, rtol=0)
    close("dpred", loss_fn.backward(), t_pred.grad, rtol=0)
