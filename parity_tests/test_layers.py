"""One-line parity tests for every layer and activation, in float64 and float32."""

import numpy as np
import pytest
from helpers import DTYPES, check, close, randn

import scratch
import scratch.nn as snn

ACTIVATIONS = [
    snn.ReLU, snn.Sigmoid, snn.Tanh, snn.Identity, snn.GELU,
    lambda: snn.LeakyReLU(0.2), lambda: snn.GELU(approximate="tanh"),
    snn.Softmax, snn.LogSoftmax, lambda: snn.Softmax(dim=0), lambda: snn.LogSoftmax(dim=0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation(make, dtype):
    check(make(), randn(5, 7, dtype=dtype, zeros=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 3, 5), (1, 3, 5), (4, 5, 5), (2, 7, 4, 5)])
def test_linear(shape, dtype):
    *batch, n_out, n_in = shape
    check(snn.Linear(n_in, n_out, dtype=dtype, rng=1), randn(*batch, n_in, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_without_bias(dtype):
    check(snn.Linear(4, 3, bias=False, dtype=dtype, rng=2), randn(5, 4, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_at_exact_zero_passes_no_gradient(dtype):
    x = np.array([[-1.0, 0.0, 2.0, 0.0]], dtype=dtype)
    relu = snn.ReLU()
    relu(x)
    close("dx", relu.backward(np.ones_like(x)), np.array([[0, 0, 1, 0]], dtype=dtype), rtol=0)
    check(snn.ReLU(), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_softmax_saturate_without_overflow(dtype):
    x = np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]], dtype=dtype)
    with np.errstate(over="raise"):
        check(snn.Sigmoid(), x)
        check(snn.Softmax(), x)
        check(snn.LogSoftmax(), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "leaky_relu"])
def test_sequential(activation, dtype):
    check(scratch.mlp([9, 7, 5, 3], activation, dtype=dtype, seed=3), randn(4, 9, dtype=dtype, zeros=True))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_size_one(dtype):
    check(scratch.mlp([6, 4, 2], "tanh", dtype=dtype, seed=4), randn(1, 6, dtype=dtype))
