"""Embedding, LayerNorm, GroupNorm and BatchNorm1d on sequences, against torch and against finite differences."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, FD_RTOL, check, check_finite_differences, close, numerical_grad, randn
from hypothesis import given, settings
from hypothesis import strategies as st

import scratch.nn as snn
from torch_impl import to_scratch, to_torch
from torch_impl.parity import STEP_RTOL

IDS = np.array([[1, 4, 1, 0], [6, 4, 4, 2], [0, 0, 3, 1]])  # repeated ids, and id 0 (a padding row in some tests)


def check_ids(layer, ids):
    report = check(layer, ids)  # integer ids are data: no input gradient row
    assert [row.name for row in report.rows] == ["output", "weight.grad"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 0, -7, 4])
def test_embedding_matches_torch(padding_idx, dtype):
    check_ids(snn.Embedding(7, 5, padding_idx, dtype=dtype, rng=0), IDS)


@pytest.mark.parametrize("ids", [np.array([3]), np.array([5, 5, 5, 5]), IDS[None], IDS.astype(np.int32)])
def test_embedding_any_id_shape(ids):
    check_ids(snn.Embedding(7, 3, dtype=np.float64, rng=1), ids)


def test_embedding_gradient_adds_up_repeated_ids():
    layer = snn.Embedding(4, 2, padding_idx=3, dtype=np.float64, rng=0)
    out = layer(np.array([2, 2, 0, 2, 3]))
    np.testing.assert_array_equal(out[0], layer.weight.data[2])
    np.testing.assert_array_equal(layer.weight.data[3], [0, 0])  # the padding row starts at zero
    layer.backward(np.ones((5, 2)))
    np.testing.assert_array_equal(layer.weight.grad, [[1, 1], [0, 0], [3, 3], [0, 0]])  # id 2 three times; 3 pads


def test_embedding_matches_finite_differences():
    layer = snn.Embedding(7, 3, dtype=np.float64, rng=2)  # no padding row: its gradient is 0 by decree, not math
    dout = randn(*IDS.shape, 3, seed=3)
    layer(IDS)
    layer.backward(dout)
    close("weight", layer.weight.grad, numerical_grad(lambda: float(np.sum(layer(IDS) * dout)), layer.weight.data),
          FD_RTOL)


def test_embedding_refuses_bad_ids():
    layer = snn.Embedding(7, 3)
    with pytest.raises(TypeError, match="integer NumPy array of ids, got float64"):
        layer(np.array([1.0, 2.0]))
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 6\], got values from -1 to 7"):
        layer(np.array([-1, 7]))
    with pytest.raises(ValueError, match=r"padding_idx must lie in \[-7, 6\] for 7 embeddings, got 7"):
        snn.Embedding(7, 3, padding_idx=7)


def random_affine(layer, seed=4):
    """Weights and biases drawn at random: the init's ones and zeros would hide a wrong scale or shift."""
    for i, param in enumerate(layer.parameters()):
        param.data[...] = randn(*param.shape, dtype=param.dtype, seed=seed + i)
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, normalized_shape", [((4, 6), 6), ((2, 5, 6), (6,)), ((2, 5, 6), (5, 6)),
                                                     ((3, 2, 4, 5), (2, 4, 5)), ((1, 7), 7)])
def test_layer_norm_matches_torch(shape, normalized_shape, dtype):
    check(random_affine(snn.LayerNorm(normalized_shape, dtype=dtype)), randn(*shape, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_without_affine_or_bias(dtype):
    check(snn.LayerNorm((3, 4), elementwise_affine=False), randn(5, 3, 4, dtype=dtype))
    check(random_affine(snn.LayerNorm(4, eps=1e-3, bias=False, dtype=dtype)), randn(5, 3, 4, dtype=dtype))


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       normalized=st.lists(st.integers(1, 5), min_size=1, max_size=2).filter(lambda shape: np.prod(shape) >= 3),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_layer_norm_any_shape(batch, normalized, dtype, seed):
    x = randn(*batch, *normalized, dtype=dtype, seed=seed)
    check(random_affine(snn.LayerNorm(tuple(normalized), dtype=dtype), seed), x, seed=seed)


@pytest.mark.parametrize("size", [1, 2])
def test_layer_norm_over_one_or_two_values(size):
    """One or two values per sample normalise to 0, or to about -1 and +1, whatever they are: the true input
    gradient is 0, or of order eps / var, left by the cancellation of terms of order 1. Both sides return that
    difference with an absolute rounding error near 1e-16 (up to 3.6e-15 seen), relative errors up to 1e-10: no
    relative tolerance passes the right backward, an absolute one of the table's size does."""
    layer = random_affine(snn.LayerNorm(size, dtype=np.float64))
    check(layer, randn(4, size), atol=STEP_RTOL[np.dtype(np.float64)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, groups", [((4, 6), 1), ((4, 6), 2), ((3, 6, 5), 1), ((3, 6, 5), 6), ((2, 6, 3, 4), 3),
                                           ((2, 6, 3, 4), 6)])  # at least 3 values per group (see the layer norm's)
def test_group_norm_matches_torch(shape, groups, dtype):
    check(random_affine(snn.GroupNorm(groups, 6, dtype=dtype)), randn(*shape, dtype=dtype))


def test_group_norm_without_affine():
    check(snn.GroupNorm(3, 6, affine=False), randn(2, 6, 5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_1d_on_sequences(train, dtype):
    layer = random_affine(snn.BatchNorm1d(4, dtype=dtype))
    layer.running_mean, layer.running_var = randn(4, dtype=dtype, seed=9), 1 + randn(4, dtype=dtype, seed=10) ** 2
    check(layer.train(train), randn(3, 4, 7, dtype=dtype))  # (N, C, L)


@pytest.mark.parametrize("layer, shape", [
    (snn.LayerNorm((3, 4), dtype=np.float64), (2, 5, 3, 4)),
    (snn.GroupNorm(2, 4, dtype=np.float64), (5, 4, 3)),
    (snn.BatchNorm1d(4, dtype=np.float64), (5, 4, 3)),
])
def test_norms_match_finite_differences(layer, shape):
    check_finite_differences(random_affine(layer), randn(*shape, seed=11))


@pytest.mark.parametrize("layer", [snn.LayerNorm((5, 6), eps=1e-3, dtype=np.float64), snn.GroupNorm(3, 6),
                                   snn.GroupNorm(3, 6, affine=False), snn.Embedding(9, 4, padding_idx=-2)])
def test_weights_cross_to_torch_and_back(layer):
    twin = to_torch(layer)
    back = to_scratch(twin)
    assert list(twin.state_dict()) == list(layer.state_dict()) == list(back.state_dict())
    assert repr(back) == repr(layer)
    for key, value in layer.state_dict().items():
        close(key, back.state_dict()[key], value, rtol=0)


def test_torch_options_without_a_scratch_twin_are_refused():
    with pytest.raises(TypeError, match="no max_norm"):
        to_scratch(torch.nn.Embedding(5, 2, max_norm=1.0))
    with pytest.raises(TypeError, match="has a bias whenever it is affine"):
        to_scratch(torch.nn.GroupNorm(2, 4, bias=False))


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(ValueError, match=r"LayerNorm expects input of shape \(\*, 3, 4\), got \(2, 5, 4\)"):
        snn.LayerNorm((3, 4))(randn(2, 5, 4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
        snn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm expects input of shape \(N, 6, \*\), got \(2, 5\)"):
        snn.GroupNorm(3, 6)(randn(2, 5, dtype=np.float32))
    with pytest.raises(TypeError, match="holds float32 weights but got a float64 input"):
        snn.LayerNorm(3)(randn(2, 3))
