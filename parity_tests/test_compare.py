"""The checker itself: it must catch a wrong backward, name it, and work for modules users write."""

import numpy as np
import pytest
import torch
from helpers import randn
from torch import nn

import scratch
import scratch.nn as snn
from torch_impl import to_torch
from torch_impl.parity import compare, diff


class LeakyGradReLU(snn.ReLU):
    """A deliberately wrong ReLU: its backward passes the gradient where the input was negative."""

    def backward(self, dout):
        self.mask = None
        return dout


def test_wrong_relu_backward_fails_and_is_named_first():
    good = scratch.mlp([6, 5, 3], "relu", dtype=np.float64, seed=0)
    bad = snn.Sequential(good[0], LeakyGradReLU(), good[2])
    report = compare(bad, to_torch(good), randn(4, 6))
    assert not report.ok
    assert report.first_failure.name == "0.bias.grad"
    assert [row.name for row in report.rows if not row.ok] == ["0.bias.grad", "0.weight.grad", "input.grad"]
    assert "first disagreement: 0.bias.grad" in str(report)


def test_correct_model_passes_and_the_table_names_every_tensor():
    model = scratch.mlp([6, 5, 3], "relu", dtype=np.float64, seed=0)
    report = compare(model, to_torch(model), randn(4, 6), target=np.array([0, 1, 2, 0]), loss="cross_entropy")
    assert report.ok and report.first_failure is None
    names = ["output", "loss", "2.bias.grad", "2.weight.grad", "0.bias.grad", "0.weight.grad", "input.grad"]
    assert [row.name for row in report.rows] == names
    assert all(name in str(report) for name in names)
    assert report.to_dict()["first_failure"] is None


class Affine(scratch.Module):
    """A user-written module: y = x * scale + shift, per feature."""

    def __init__(self, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.scale = scratch.Parameter(rng.standard_normal(n))
        self.shift = scratch.Parameter(rng.standard_normal(n))

    def forward(self, x):
        self.x = x
        return x * self.scale.data + self.shift.data

    def backward(self, dout):
        x = self._cached("x")
        self.scale.accumulate((dout * x).sum(axis=0))
        self.shift.accumulate(dout.sum(axis=0))
        return dout * self.scale.data


class TorchAffine(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.shift = nn.Parameter(torch.zeros(n, dtype=torch.float64))

    def forward(self, x):
        return x * self.scale + self.shift


def test_user_written_module_is_compared_parameter_by_parameter():
    report = compare(Affine(4), TorchAffine(4), randn(3, 4))
    assert report.ok, f"\n{report}"
    assert [row.name for row in report.rows] == ["output", "shift.grad", "scale.grad", "input.grad"]


def test_user_module_has_no_automatic_twin():
    with pytest.raises(TypeError, match="Affine has no twin"):
        to_torch(Affine(4))


def test_softmax_backward_without_off_diagonal_terms_fails():
    class HalfSoftmax(snn.Softmax):
        """Softmax backward as the elementwise s(1 - s), ignoring the Jacobian's off-diagonal terms."""

        def backward(self, dout):
            s = self._cached("out")
            self.out = None
            return dout * s * (1 - s)

    assert not compare(HalfSoftmax(), nn.Softmax(dim=-1), randn(4, 5)).ok


def test_diff_checks_shape_and_dtype_before_values():
    a = np.zeros((2, 3))
    assert "shape" in diff("t", a, np.zeros((3, 2)), 1e-12).note
    assert "dtype" in diff("t", a, np.zeros((2, 3), np.float32), 1e-12).note
    assert not diff("t", np.array([np.nan]), np.array([np.nan]), 1e-12).ok
    row = diff("t", np.array([1.0, 2.0]), np.array([1.0, 4.0]), 0.5)
    assert (row.max_abs, row.max_rel, row.ok) == (2.0, 0.5, True)


def test_dtype_mismatch_between_sides_is_refused():
    model = scratch.mlp([3, 2], dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="float64, the torch module holds torch.float32"):
        compare(model, nn.Sequential(nn.Linear(3, 2)), randn(2, 3))


def test_loss_without_target_is_refused():
    model = scratch.mlp([3, 2], dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="both loss and target"):
        compare(model, to_torch(model), randn(2, 3), loss="mse")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is visible to torch")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_parity_with_tf32_off(dtype):
    model = scratch.mlp([64, 48, 10], "gelu", dtype=dtype, seed=0)
    report = compare(model, to_torch(model), randn(16, 64, dtype=dtype), target=np.arange(16) % 10,
                     loss="cross_entropy", device="cuda")
    assert report.ok, f"\n{report}"


def test_cuda_request_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present, so the request is valid")
    model = scratch.mlp([3, 2], dtype=np.float64, seed=0)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        compare(model, to_torch(model), randn(2, 3), device="cuda")
