"""RNN, LSTM and GRU against torch: outputs, final states and every gradient, finite differences, 100 training steps."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, FD_RTOL, check, close, numerical_grad, randn
from hypothesis import given, settings
from hypothesis import strategies as st

import scratch.nn as snn
from scratch.sequence import SequenceModel
from torch_impl import to_scratch, to_torch
from torch_impl.parity import TRAJECTORY_RTOL
from torch_impl.parity.trajectory import Twins

CELLS = {
    "rnn_tanh": lambda *a, **k: snn.RNN(*a, nonlinearity="tanh", **k),
    "rnn_relu": lambda *a, **k: snn.RNN(*a, nonlinearity="relu", **k),
    "lstm": snn.LSTM,
    "gru": snn.GRU,
}


def sequence(cell: str, input_size=4, hidden_size=5, num_layers=1, length=7, batch=3, batch_first=False,
             dtype=np.float64, with_state=True, bias=True, seed=0):
    """A seeded layer and its inputs: (x,) or (x, h_0) or (x, (h_0, c_0)), both signs, no zeros."""
    layer = CELLS[cell](input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first, dtype=dtype,
                        rng=seed)
    x = randn(*((batch, length) if batch_first else (length, batch)), input_size, dtype=dtype, seed=seed + 1)
    if not with_state:
        return layer, (x,)
    h_0 = randn(num_layers, batch, hidden_size, dtype=dtype, seed=seed + 2)
    c_0 = randn(num_layers, batch, hidden_size, dtype=dtype, seed=seed + 3)
    return layer, (x, (h_0, c_0) if cell == "lstm" else h_0)


def check_sequence(layer, inputs, seed=0):
    """compare's rows: output[0] and the final state(s), the parameters, then input0.grad (input.grad without a
    state) and the initial state's gradient(s)."""
    report = check(layer, *inputs, seed=seed)
    names = [row.name for row in report.rows]
    states = ["input1[0].grad", "input1[1].grad"] if layer.has_cell else ["input1.grad"]
    input_rows = ["input0.grad", *states] if len(inputs) > 1 else ["input.grad"]
    assert names[0] == "output[0]" and "weight_hh_l0.grad" in names, names
    assert names[-len(input_rows):] == input_rows, names
    return report


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("length", [1, 50])
@pytest.mark.parametrize("cell", CELLS)
def test_every_tensor_matches_torch(cell, length, batch_first, num_layers, dtype):
    layer, inputs = sequence(cell, num_layers=num_layers, length=length, batch_first=batch_first, dtype=dtype)
    report = check_sequence(layer, inputs)
    expected = 2 * (2 + (cell == "lstm")) + 4 * num_layers  # outputs and states, their inputs, the parameters
    assert len(report.rows) == expected, f"\n{report}"


@pytest.mark.parametrize("cell", CELLS)
def test_without_initial_state_or_bias(cell):
    check_sequence(*sequence(cell, with_state=False))
    check_sequence(*sequence(cell, bias=False, num_layers=2))


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_input(cell):
    layer, (x, state) = sequence(cell, num_layers=2, batch=1)
    state = tuple(s[:, 0] for s in state) if cell == "lstm" else state[:, 0]
    check_sequence(layer, (x[:, 0], state))


@settings(max_examples=40, deadline=None)
@given(cell=st.sampled_from(sorted(CELLS)), input_size=st.integers(1, 6), hidden_size=st.integers(1, 6),
       num_layers=st.integers(1, 2), length=st.integers(1, 12), batch=st.integers(1, 4), batch_first=st.booleans(),
       dtype=st.sampled_from(DTYPES), with_state=st.booleans(), seed=st.integers(0, 2**16))
def test_any_sizes_keep_parity(cell, input_size, hidden_size, num_layers, length, batch, batch_first, dtype,
                               with_state, seed):
    layer, inputs = sequence(cell, input_size, hidden_size, num_layers, length, batch, batch_first, dtype,
                             with_state, seed=seed)
    check_sequence(layer, inputs, seed)


@pytest.mark.parametrize("cell", CELLS)
def test_numpy_backward_matches_finite_differences(cell):
    """The NumPy side alone: a mistake shared with torch's twin would pass every parity test, not this one."""
    layer, (x, state) = sequence(cell, input_size=3, hidden_size=3, num_layers=2, length=4, batch=2)
    states = state if cell == "lstm" else (state,)
    output, final = layer(x, state)
    finals = final if cell == "lstm" else (final,)
    doutput = randn(*output.shape, seed=7)
    dfinals = [randn(*f.shape, seed=8 + i) for i, f in enumerate(finals)]

    def loss():
        out, fin = layer(x, state)
        fins = fin if cell == "lstm" else (fin,)
        return float(np.sum(out * doutput) + sum(np.sum(f * d) for f, d in zip(fins, dfinals)))

    layer(x, state)
    dx, dstate = layer.backward((doutput, tuple(dfinals) if cell == "lstm" else dfinals[0]))
    dstates = dstate if cell == "lstm" else (dstate,)
    close("input", dx, numerical_grad(loss, x), FD_RTOL)
    for i, (s, ds) in enumerate(zip(states, dstates)):
        close(f"state {i}", ds, numerical_grad(loss, s), FD_RTOL)
    for name, param in layer.named_parameters():
        close(name, param.grad, numerical_grad(loss, param.data), FD_RTOL)


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_model_trains_as_its_twin_for_100_steps(optimizer, batch_first):
    rng = np.random.default_rng(0)
    model = SequenceModel(snn.LSTM(3, 8, batch_first=batch_first, dtype=np.float64, rng=rng),
                          snn.Linear(8, 2, dtype=np.float64, rng=rng))
    twins = Twins(model, to_torch(model), loss="mse", optimizer=optimizer, lr=0.01)
    shape = (16, 10, 3) if batch_first else (10, 16, 3)
    for _ in range(100):
        x = rng.standard_normal(shape)
        twins.step(x, x[..., :2].sum(axis=1 if batch_first else 0))  # (N, 2): each channel summed over time
    report = twins.state_report(TRAJECTORY_RTOL[np.dtype(np.float64)])
    assert any(row.name == "rnn.weight_hh_l0" for row in report.rows)
    assert any(row.name.endswith("exp_avg_sq") or row.name.endswith("momentum_buffer") for row in report.rows)
    assert report.ok, f"\n{report}"


@pytest.mark.parametrize("cell", CELLS)
def test_weights_cross_to_torch_and_back(cell):
    layer, _ = sequence(cell, num_layers=2, batch_first=True)
    twin = to_torch(layer)
    assert list(twin.state_dict()) == list(layer.state_dict())
    assert list(layer.state_dict())[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l1"]
    back = to_scratch(twin)
    assert type(back) is type(layer) and back.batch_first and back.num_layers == 2
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


@pytest.mark.parametrize("torch_layer", [torch.nn.LSTM(3, 4, bidirectional=True), torch.nn.GRU(3, 4, 2, dropout=0.5),
                                         torch.nn.LSTM(3, 4, proj_size=2)])
def test_torch_options_without_a_scratch_twin_are_refused(torch_layer):
    with pytest.raises(TypeError, match="no bidirectional, dropout or proj_size"):
        to_scratch(torch_layer)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_init_follows_torch(cell):
    """Every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden)), torch's reset_parameters."""
    layer = CELLS[cell](20, 16, 2, rng=0)
    bound = 1 / np.sqrt(16)
    values = np.concatenate([param.data.ravel() for param in layer.parameters()])  # over 1,000 draws
    assert 0.98 * bound < np.abs(values).max() <= bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.05 * bound  # a uniform's standard deviation


def test_bad_inputs_say_what_was_expected():
    lstm = snn.LSTM(4, 5, 2, dtype=np.float64)
    x = randn(6, 3, 4)
    with pytest.raises(ValueError, match=r"expects input of shape \(L, N, 4\)"):
        lstm(randn(6, 3, 2, 4))
    with pytest.raises(ValueError, match=r"\(\*, 4\)"):
        lstm(randn(6, 3, 5))
    with pytest.raises(ValueError, match=r"h_0 as a float64 array of shape \(2, 3, 5\), got float64 \(1, 3, 5\)"):
        lstm(x, (randn(1, 3, 5), randn(2, 3, 5)))
    with pytest.raises(ValueError, match=r"hx as \(h_0, c_0\)"):
        lstm(x, (randn(2, 3, 5),))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        snn.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="positive integer hidden_size"):
        snn.GRU(4, 0)
    with pytest.raises(RuntimeError, match="before forward"):
        snn.GRU(4, 5).backward((randn(6, 3, 5), None))
