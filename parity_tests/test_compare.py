"""The checker itself: it must catch a wrong backward, name it at its own row, and work for modules users write."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, close, randn
from torch import nn

import scratch
import scratch.nn as snn
from torch_impl import to_torch
from torch_impl.parity import assert_parity, compare, diff


class LeakyGradReLU(snn.ReLU):
    """A deliberately wrong ReLU: its backward passes the gradient where the input was negative."""

    def backward(self, dout):
        self.mask = None
        return dout


def mlp_with(layer, index=1):
    good = scratch.mlp([6, 5, 3], "relu", dtype=np.float64, seed=0)
    layers = list(good.layers)
    layers[index] = layer
    return snn.Sequential(*layers), to_torch(good)


def test_wrong_relu_backward_is_named_at_its_own_row():
    report = compare(*mlp_with(LeakyGradReLU()), randn(4, 6))
    assert report.first_failure.name == "1.input.grad" and "ReLU" in report.first_failure.note
    assert [row.name for row in report.rows if not row.ok] == ["1.input.grad", "0.bias.grad", "0.weight.grad",
                                                               "input.grad"]
    assert "first disagreement: 1.input.grad" in str(report)


def test_correct_model_passes_and_the_table_names_every_tensor():
    model = scratch.mlp([6, 5, 3], "relu", dtype=np.float64, seed=0)
    report = compare(model, to_torch(model), randn(4, 6), target=np.array([0, 1, 2, 0]), loss="cross_entropy")
    assert report.ok and report.first_failure is None
    names = ["output", "loss", "output.grad", "2.bias.grad", "2.weight.grad", "2.input.grad", "1.input.grad",
             "0.bias.grad", "0.weight.grad", "input.grad"]
    assert [row.name for row in report.rows] == names
    assert all(name in str(report) for name in names)
    assert report.to_dict()["first_failure"] is None


def test_per_layer_rows_can_be_switched_off():
    model = scratch.mlp([6, 5, 3], "relu", dtype=np.float64, seed=0)
    names = [row.name for row in compare(model, to_torch(model), randn(4, 6), per_layer=False).rows]
    assert names == ["output", "2.bias.grad", "2.weight.grad", "0.bias.grad", "0.weight.grad", "input.grad"]


def test_a_wrong_loss_gradient_is_named_at_the_output_with_its_factor():
    class SummedMSE(snn.MSELoss):
        def backward(self):
            residual = self._cached("diff")
            self.diff = None
            return 2 * residual  # the mean's 1 / N forgotten: N = 4 rows x 3 outputs

    model = scratch.mlp([6, 5, 3], "relu", dtype=np.float64, seed=0)
    report = compare(model, to_torch(model), randn(4, 6), target=randn(4, 3, seed=1), loss=(SummedMSE(), nn.MSELoss()))
    assert report.first_failure.name == "output.grad"
    close("factor", report.first_failure.factor, 12.0, 1e-12)
    assert "hand-written = 12 x reference" in str(report)


class MeanBiasLinear(snn.Linear):
    """Averages the bias gradient over the batch instead of summing it."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.bias.grad = self.bias.grad / len(dout)
        return dx


def test_a_constant_factor_and_the_worst_element_are_reported():
    layer = MeanBiasLinear(6, 5, dtype=np.float64, rng=0)
    row = next(r for r in compare(layer, to_torch(snn.Linear(6, 5, dtype=np.float64, rng=0)), randn(4, 6)).rows
               if r.name == "bias.grad")
    close("factor", row.factor, 0.25, 1e-12)
    assert (row.mismatched, row.size) == (5, 5)
    close("worst hand-written", row.actual, row.expected / 4, 1e-12)


def test_bias_feeding_batch_norm_passes_as_both_zero_over_seeds_and_dtypes():
    """Its true gradient is exactly 0: both sides hold rounding noise, which a relative test cannot judge."""
    for dtype in DTYPES:
        for seed in range(20):
            rng = np.random.default_rng(seed)
            model = snn.Sequential(snn.Linear(5, 4, dtype=dtype, rng=rng), snn.BatchNorm1d(4, dtype=dtype),
                                   snn.ReLU(), snn.Linear(4, 3, dtype=dtype, rng=rng))
            report = compare(model, to_torch(model), randn(8, 5, dtype=dtype, seed=seed), seed=seed)
            assert report.ok, f"\n{report}"
            assert next(r for r in report.rows if r.name == "0.bias.grad").note == "both ~ 0"


def test_both_zero_never_hides_a_nonzero_hand_written_gradient():
    class AbsBiasLinear(snn.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.bias.grad = np.abs(dout).sum(axis=0)  # nonzero where the true gradient is 0
            return dx

    model = snn.Sequential(AbsBiasLinear(5, 4, dtype=np.float64, rng=0), snn.BatchNorm1d(4, dtype=np.float64))
    twin = nn.Sequential(nn.Linear(5, 4, dtype=torch.float64), nn.BatchNorm1d(4, dtype=torch.float64))
    assert compare(model, twin, randn(8, 5)).first_failure.name == "0.bias.grad"


def test_bad_options_are_refused_clearly():
    model = scratch.mlp([3, 2], dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="both loss and target"):
        compare(model, to_torch(model), randn(2, 3), loss="mse")
    with pytest.raises(ValueError, match="one bool per input"):
        compare(model, to_torch(model), randn(2, 3), input_grad=(True, True))
    with pytest.raises(ValueError, match="per_layer=True needs a scratch Sequential"):
        compare(snn.Tanh(), nn.Tanh(), randn(2, 3), per_layer=True)
    with pytest.raises(ValueError, match="float64, the torch module holds torch.float32"):
        compare(model, nn.Sequential(nn.Linear(3, 2)), randn(2, 3))


def test_diff_checks_shape_and_dtype_before_values():
    a = np.zeros((2, 3))
    assert "shape" in diff("t", a, np.zeros((3, 2)), 1e-12).note
    assert "dtype" in diff("t", a, np.zeros((2, 3), np.float32), 1e-12).note
    assert not diff("t", np.array([np.nan]), np.array([np.nan]), 1e-12).ok
    row = diff("t", np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 3.0]), 0.1)
    assert (row.max_abs, row.max_rel, row.ok, row.mismatched, row.worst, row.actual, row.expected) == (
        2.0, 0.5, False, 1, (1,), 2.0, 4.0)


def test_assert_parity_raises_with_the_table_and_plots_the_first_failure(tmp_path):
    assert_parity(*mlp_with(snn.ReLU()), randn(4, 6))
    with pytest.raises(AssertionError, match=r"(?s)disagrees with its torch twin.*first disagreement: 1.input.grad"):
        assert_parity(*mlp_with(LeakyGradReLU()), randn(4, 6))
    compare(*mlp_with(LeakyGradReLU()), randn(4, 6), plot=tmp_path / "error.png")
    assert (tmp_path / "error.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is visible to torch")
@pytest.mark.parametrize("dtype", DTYPES)
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
