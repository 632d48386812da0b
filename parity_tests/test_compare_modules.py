"""compare on the modules users write: two inputs, lists of gradients, in-place forwards, integer ids, tuples."""

import numpy as np
import pytest
import torch
from helpers import close, randn
from torch import nn

import scratch
import scratch.nn as snn
from torch_impl import to_torch
from torch_impl.parity import compare


class Mul(scratch.Module):
    """x * y of two inputs; `returns` picks what backward gives back."""

    def __init__(self, returns="tuple"):
        self.returns = returns

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        dx, dy = dout * self.y, dout * self.x
        return {"tuple": (dx, dy), "list": [dx, dy], "one": dx, "none": None}[self.returns]


class TorchMul(nn.Module):
    def forward(self, x, y):
        return x * y


def test_a_backward_returning_one_gradient_for_two_inputs_fails_instead_of_passing():
    report = compare(Mul("one"), TorchMul(), randn(3, 4), randn(3, 4, seed=1))
    assert not report.ok and report.first_failure.name == "input1.grad"
    assert "returned 1 gradient(s) for 2 inputs" in report.first_failure.note


def test_a_list_of_input_gradients_is_compared_input_by_input():
    report = compare(Mul("list"), TorchMul(), randn(3, 4), randn(3, 4, seed=1))
    assert report.ok and [row.name for row in report.rows] == ["output", "input0.grad", "input1.grad"]


def test_input_grad_false_skips_what_a_training_loop_never_computes():
    x, y = randn(3, 4), randn(3, 4, seed=1)
    assert "input_grad=False" in compare(Mul("none"), TorchMul(), x, y).first_failure.note
    assert [row.name for row in compare(Mul("none"), TorchMul(), x, y, input_grad=False).rows] == ["output"]
    assert [row.name for row in compare(Mul("one"), TorchMul(), x, y, input_grad=(True, False)).rows] == [
        "output", "input0.grad"]


class CenterSquare(scratch.Module):
    """(x - mean) ** 2 with the centring done in place on the input, a common NumPy habit."""

    def forward(self, x):
        x -= x.mean(axis=0)
        self.x = x.copy()
        return x**2

    def backward(self, dout):
        dxc = 2 * self.x * dout
        return dxc - dxc.mean(axis=0)


class TorchCenterSquare(nn.Module):
    def forward(self, x):
        squared = x**2  # saves x for backward: an in-place edit of shared memory would corrupt it
        return squared - 2 * x * x.mean(0) + x.mean(0) ** 2


def test_a_forward_editing_its_input_in_place_cannot_reach_torch_or_the_caller():
    x = randn(4, 3)
    before = x.copy()
    report = compare(CenterSquare(), TorchCenterSquare(), x)
    assert report.ok, f"\n{report}"
    close("the caller's input", x, before, 0.0)


class Lookup(scratch.Module):
    """An embedding: integer ids in, rows of the weight out; no gradient for the ids."""

    def __init__(self, seed=0):
        self.weight = scratch.Parameter(np.random.default_rng(seed).standard_normal((7, 3)))

    def forward(self, ids):
        self.ids = ids
        return self.weight.data[ids]

    def backward(self, dout):
        dweight = np.zeros_like(self.weight.data)
        np.add.at(dweight, self.ids, dout)
        self.weight.accumulate(dweight)


def test_integer_inputs_are_data():
    report = compare(Lookup(), nn.Embedding(7, 3, dtype=torch.float64), np.array([[0, 3, 3], [6, 1, 0]]))
    assert report.ok and [row.name for row in report.rows] == ["output", "weight.grad"]


class Recurrent(scratch.Module):
    """Returns (output, h_n) as torch's RNN does; backward takes the matching tuple of upstream gradients."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out, self.out[-1]

    def backward(self, dout):
        doutput, dh_n = dout
        doutput = doutput.copy()
        doutput[-1] += dh_n
        return doutput * (1 - self.out**2)


class TorchRecurrent(nn.Module):
    def forward(self, x):
        out = torch.tanh(x)
        return out, out[-1]


def test_tuple_outputs_are_compared_element_by_element_with_a_tuple_dout():
    x = randn(5, 3)
    report = compare(Recurrent(), TorchRecurrent(), x)
    assert report.ok and [row.name for row in report.rows] == ["output[0]", "output[1]", "input.grad"]
    assert compare(Recurrent(), TorchRecurrent(), x, dout=(np.ones((5, 3)), np.ones(3))).ok
    with pytest.raises(ValueError, match=r"dout for output\[1\] has shape \(2,\)"):
        compare(Recurrent(), TorchRecurrent(), x, dout=(np.ones((5, 3)), np.ones(2)))


def test_the_out_cache_habit_is_explained():
    class Cached(snn.Tanh):
        def forward(self, x):
            return super().forward(x), {"x": x}

    with pytest.raises(TypeError, match=r"returned a tuple of 2 .*\(out, cache\) habit"):
        compare(Cached(), nn.Tanh(), randn(2, 3))


def test_user_written_module_is_compared_parameter_by_parameter():
    class Affine(scratch.Module):
        def __init__(self, n: int):
            rng = np.random.default_rng(0)
            self.scale, self.shift = scratch.Parameter(rng.standard_normal(n)), scratch.Parameter(rng.standard_normal(n))

        def forward(self, x):
            self.x = x
            return x * self.scale.data + self.shift.data

        def backward(self, dout):
            self.scale.accumulate((dout * self.x).sum(axis=0))
            self.shift.accumulate(dout.sum(axis=0))
            return dout * self.scale.data

    class TorchAffine(nn.Module):
        def __init__(self, n: int):
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(n, dtype=torch.float64))
            self.shift = nn.Parameter(torch.zeros(n, dtype=torch.float64))

        def forward(self, x):
            return x * self.scale + self.shift

    report = compare(Affine(4), TorchAffine(4), randn(3, 4))
    assert report.ok, f"\n{report}"
    assert [row.name for row in report.rows] == ["output", "shift.grad", "scale.grad", "input.grad"]
    with pytest.raises(TypeError, match="Affine has no twin"):
        to_torch(Affine(4))


class Gate(scratch.Module):
    """x * h + c with an optional state (h, c), as a recurrent layer takes (x, (h_0, c_0)); `returns` picks the
    state's gradient backward gives back."""

    def __init__(self, returns="tuple"):
        self.returns = returns

    def forward(self, x, state=None):
        self.x, self.state = x, state
        return x if state is None else x * state[0] + state[1]

    def backward(self, dout):
        if self.state is None:
            return dout, None
        h, _ = self.state
        dh, dc = dout * self.x, dout
        return dout * h, {"tuple": (dh, dc), "wrong_dc": (dh, 2 * dc), "flat": dh}[self.returns]


class TorchGate(nn.Module):
    def forward(self, x, state=None):
        return x if state is None else x * state[0] + state[1]


def test_tuple_inputs_get_one_row_per_array_named_like_tuple_outputs():
    x, state = randn(3, 4), (randn(3, 4, seed=1), randn(3, 4, seed=2))
    report = compare(Gate(), TorchGate(), x, state)
    assert report.ok and [row.name for row in report.rows] == ["output", "input0.grad", "input1[0].grad",
                                                               "input1[1].grad"]
    assert compare(Gate("wrong_dc"), TorchGate(), x, state).first_failure.name == "input1[1].grad"
    flat = compare(Gate("flat"), TorchGate(), x, state)  # dh alone for the pair (h, c): no row may pass
    assert [row.name for row in flat.rows if not row.ok] == ["input1[0].grad", "input1[1].grad"]
    assert [row.name for row in compare(Gate(), TorchGate(), x, None).rows] == ["output", "input0.grad"]
    assert [row.name for row in compare(Gate(), TorchGate(), x).rows] == ["output", "input.grad"]


class PairSum(scratch.Module):
    """a + b of one input, the pair (a, b); backward returns the pair's gradient."""

    def forward(self, pair):
        return pair[0] + pair[1]

    def backward(self, dout):
        return dout, dout


class TorchPairSum(nn.Module):
    def forward(self, pair):
        return pair[0] + pair[1]


def test_one_tuple_input_takes_the_backward_as_its_gradient():
    report = compare(PairSum(), TorchPairSum(), (randn(3, 4), randn(3, 4, seed=1)))
    assert report.ok and [row.name for row in report.rows] == ["output", "input[0].grad", "input[1].grad"]
