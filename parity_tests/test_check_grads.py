"""check_grads: hand-written gradients of the user's own NumPy forward against autograd run on that same forward."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, ROOT, close, load_example, randn

from torch_impl.parity import assert_grads, check_grads
from torch_impl.parity.autograd import TESTED_TORCH

layers = load_example("cs231n_layers")  # functions in another module, as a user's lambda typically calls them


def affine(x, w, b):
    return x @ w + b


def affine_grads(x, w, b):
    return lambda d: (d @ w.T, x.T @ d, d.sum(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reference", ["autograd", "numerical"])
def test_a_function_pair_passes_in_one_call(dtype, reference):
    x, w, b = randn(4, 5, dtype=dtype), randn(5, 3, dtype=dtype, seed=1), randn(3, dtype=dtype, seed=2)
    report = check_grads(affine, {"x": x, "w": w, "b": b}, affine_grads(x, w, b), reference=reference)
    assert report.ok and [row.name for row in report.rows] == ["x", "w", "b"], f"\n{report}"


def test_np_is_rebound_in_every_module_the_forward_reaches_and_restored():
    """A lambda here calling naive conv and pool from another module: rebinding only the lambda's own globals would
    give them a zero (or no) reference gradient."""
    x, w, b = randn(2, 3, 5, 5), randn(4, 3, 3, 3, seed=1), randn(4, seed=2)
    param = {"stride": 2, "pad": 1}
    _, cache = layers.conv_forward_naive(x, w, b, param)
    report = check_grads(lambda x, w, b: layers.conv_forward_naive(x, w, b, param)[0], {"x": x, "w": w, "b": b},
                         lambda d: layers.conv_backward_naive(d, cache))
    assert report.ok and all(row.max_expected > 0.1 for row in report.rows), f"\n{report}"
    assert layers.np is np
    with pytest.raises(RuntimeError, match="np.lib has no equivalent"):  # np comes back even when the run fails
        check_grads(lambda x: layers.relu_forward(np.lib.stride_tricks.sliding_window_view(x, 2))[0].sum(), {"x": b},
                    {"x": b})
    assert layers.np is np and globals()["np"] is np


def test_the_grads_callable_runs_right_after_the_numpy_forward_and_objects_are_restored():
    class Scale:
        def __init__(self, w):
            self.w = w

        def forward(self, x):
            self.x = x
            return x * self.w

        def backward(self, dout):
            assert type(self.x) is np.ndarray, "backward saw the reference run's state"
            return {"x": dout * self.w, "w": (dout * self.x).sum(axis=0)}

    layer = Scale(randn(3, seed=1))
    x = randn(4, 3)
    assert check_grads(lambda x: layer.forward(x), {"x": x, "w": layer.w}, layer.backward).ok
    assert type(layer.x) is np.ndarray and layer.x is x and type(layer.w) is np.ndarray


@pytest.mark.parametrize("reference", ["autograd", "numerical"])
def test_the_grads_callable_runs_after_the_numpy_forward_and_before_any_reference_run(reference):
    runs, seen = torch.zeros(()), []  # a tensor counter: nothing the reference run restores

    def forward(x):
        runs.add_(1)
        return (x**2).sum()

    x = randn(3)
    assert check_grads(forward, {"x": x}, lambda d: seen.append(int(runs)) or 2 * x, reference=reference).ok
    assert seen == [1]


def test_a_numpy_array_on_the_left_of_a_torch_array_keeps_the_graph():
    held = (np.array([1.0, -2.0, 3.0]),)  # in a tuple, so it stays NumPy during the reference run
    assert check_grads(lambda x: np.sum(held[0] * x), {"x": randn(3)}, {"x": held[0]}).ok


def test_dout_is_one_for_a_loss_and_random_from_its_own_stream_for_an_array():
    seen = []
    check_grads(lambda x: (x**2).sum(), {"x": randn(3)}, lambda d: seen.append(d) or 2 * randn(3))
    x = np.random.default_rng(0).standard_normal((4, 5))  # what a user draws with default_rng(seed)
    check_grads(lambda x: 2 * x, {"x": x}, lambda d: seen.append(d) or 2 * d, seed=0)
    assert seen[0] == 1.0 and seen[1].shape == x.shape and not np.isclose(seen[1], x).any()


def test_intermediates_come_first_in_backward_order_and_unchecked_names_are_listed():
    def forward(x, w, y):
        h = np.tanh(x @ w)
        return {"h": h, "loss": ((h - y) ** 2).sum()}

    x, w, y = randn(4, 3), randn(3, 2, seed=1), np.arange(8).reshape(4, 2)
    h = np.tanh(x @ w)
    dh = 2 * (h - y)
    report = check_grads(forward, {"x": x, "w": w, "y": y}, {"dh": dh, "w": x.T @ (dh * (1 - h**2))})
    assert report.ok and [row.name for row in report.rows] == ["h", "w"], f"\n{report}"
    assert report.not_checked == ["x (no hand-written gradient)", "y (integer data)"]


def test_grads_as_a_tuple_with_none_or_a_bare_array():
    x, w = randn(4, 3), randn(3, 2, seed=1)
    d = randn(4, 2, seed=2)
    assert check_grads(lambda x, w: x @ w, {"x": x, "w": w}, (None, x.T @ d), dout=d).rows[0].name == "w"
    assert check_grads(lambda x: x @ w, {"x": x}, d @ w.T, dout=d).ok


def test_relu_at_zero_gets_torchs_gradient_0_whichever_order_np_maximum_takes():
    x = randn(6, 5, zeros=True)
    for relu in (lambda x: np.maximum(0, x), lambda x: np.maximum(x, 0)):
        assert check_grads(relu, {"x": x}, lambda d: d * (x > 0)).ok
        assert check_grads(relu, {"x": x}, lambda d: d * (x >= 0)).first_failure.name == "x"


def test_the_numerical_reference_reports_kinks_instead_of_failing():
    x = randn(6, 5, zeros=True)
    report = check_grads(lambda x: np.maximum(0, x), {"x": x}, lambda d: d * (x > 0), reference="numerical")
    assert report.ok and report.rows[0].note == f"{np.sum(x == 0)} at non-differentiable points, not compared"


def test_a_wrong_shape_or_dtype_is_a_failing_row_not_an_exception():
    x, w = randn(4, 3), randn(3, 2, seed=1)
    d = randn(4, 2, seed=2)
    report = check_grads(lambda x, w: x @ w, {"x": x, "w": w}, {"x": d @ w.T, "w": d.T @ x}, dout=d)
    assert report.first_failure.name == "w" and "shape (2, 3) != expected (3, 2)" in report.first_failure.note
    report = check_grads(lambda x, w: x @ w, {"x": x, "w": w}, {"x": d @ w.T, "w": (x.T @ d).astype(np.float32)},
                         dout=d)
    assert "dtype float32 != expected float64" in report.first_failure.note


def test_a_constant_factor_is_named():
    x = randn(5, 3)
    row = check_grads(lambda x: (x**2).mean(), {"x": x}, {"x": x}).first_failure
    close("factor", row.factor, 7.5, 1e-12)  # x against the true 2x / 15


def test_torch_code_and_a_torch_reference():
    C, ids = torch.randn(7, 3, dtype=torch.float64), torch.tensor([[0, 3], [3, 6]])

    def forward(C, ids):
        return (C[ids] ** 2).sum()

    dC = torch.zeros_like(C).index_add_(0, ids.view(-1), 2 * C[ids].view(-1, 3))
    assert check_grads(forward, {"C": C, "ids": ids}, {"C": dC}).ok
    report = check_grads(forward, {"C": C.numpy(), "ids": ids.numpy()}, {"C": dC.numpy()}, reference=forward)
    assert report.ok and [row.name for row in report.rows] == ["loss", "C"]


def test_assert_grads_raises_with_the_table_and_a_failure_can_be_plotted(tmp_path):
    x = randn(5, 3)
    assert_grads(lambda x: (x**2).sum(), {"x": x}, {"x": 2 * x})
    with pytest.raises(AssertionError, match=r"(?s)disagree with the autograd reference.*first disagreement: x"):
        assert_grads(lambda x: (x**2).sum(), {"x": x}, {"x": x})
    check_grads(lambda x: (x**2).sum(), {"x": x}, {"x": x}, plot=tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_this_torch_is_one_the_autograd_reference_was_tested_on():
    """The pin: on a torch release not in TESTED_TORCH, run this suite, then add it there and to the README."""
    release = ".".join(torch.__version__.split(".")[:2])
    assert release in TESTED_TORCH, f"torch {torch.__version__} is untested; tested: {', '.join(TESTED_TORCH)}"
    assert f"Tested on torch {', '.join(TESTED_TORCH)}" in (ROOT / "README.md").read_text()


def _random(x):
    return x * np.random.random(x.shape)


def _total(x):
    return np.sum(x)


BAD_INPUTS = {  # what a user may get wrong -> (the call's arguments, the exception, what its message must say)
    "arrays not a dict": ((_total, [randn(3)], {}), TypeError, "arrays must be a non-empty dict"),
    "non-finite array": ((_total, {"x": np.array([1.0, np.nan])}, {}), ValueError, r"arrays\['x'\] holds NaN"),
    "float16 array": ((_total, {"x": np.ones(3, np.float16)}, {}), TypeError, "float32 or float64"),
    "unknown name in grads": ((_total, {"x": randn(3)}, {"z": randn(3)}), ValueError, "'z'.*expected one of x"),
    "(out, cache) tuple": ((lambda x: (x, {}), {"x": randn(3)}, {}), TypeError, r"tuple of 2.*\(out, cache\)"),
    "forward returns None": ((lambda x: None, {"x": randn(3)}, {}), TypeError, "returned None"),
    "dict without loss": ((lambda x: {"h": x}, {"x": randn(3)}, {}), TypeError, "without 'loss'"),
    "non-finite output": ((lambda x: x * np.inf, {"x": randn(3)}, {}), ValueError, "holds NaN or inf"),
    "forward edits its input": ((lambda x: np.sum(np.add(x, 1, out=x)), {"x": randn(3)}, {}), ValueError,
                                "changed its input x in place"),
    "random forward": ((_random, {"x": randn(3)}, lambda d: d), ValueError, "draws random numbers"),
    "no torch equivalent": ((lambda x: np.sum(np.lib.stride_tricks.sliding_window_view(x, 2)), {"x": randn(3)},
                             {"x": randn(3)}), RuntimeError,
                            r"test_check_grads.py:\d+: .*np.lib has no equivalent.*reference='numerical'"),
    "dropped graph": ((lambda x: float(np.sum(x)), {"x": randn(3)}, {"x": randn(3)}), RuntimeError,
                      "the graph was dropped"),
    "torch run differs": ((lambda x: np.sum(x) * (1 if type(x).__module__ == "numpy" else 2), {"x": randn(3)}, {"x": randn(3)}),
                          ValueError, "on torch arrays the forward gave a different value from NumPy's"),
    "array neither taken nor held": ((lambda: 1.0, {"x": randn(3)}, {"x": randn(3)}), ValueError,
                                     "does not take x as arguments"),
    "array output, grads without dout": ((lambda x: 2 * x, {"x": randn(3)}, {"x": randn(3)}), ValueError,
                                         "pass it as dout"),
    "dout of the wrong shape": ((lambda x: 2 * x, {"x": randn(3)}, lambda d: d, {"dout": randn(4)}), ValueError,
                                r"dout has shape \(4,\)"),
    "grads tuple of the wrong length": ((_total, {"x": randn(3)}, (randn(3), randn(3))), TypeError,
                                        "tuple of 2; expected one entry per array"),
    "one array for two": ((lambda x, w: x @ w, {"x": randn(3), "w": randn(3)}, randn(3)), TypeError,
                          "one array but 2 arrays are differentiable"),
    "unknown reference": ((_total, {"x": randn(3)}, {}, {"reference": "finite"}), ValueError, "'autograd'"),
    "numerical intermediates": ((lambda x: {"h": x, "loss": np.sum(x)}, {"x": randn(3)}, {"h": randn(3)},
                                 {"reference": "numerical"}), ValueError, "perturbs arrays only"),
    "random forward, numerical": ((_random, {"x": randn(3)}, lambda d: d, {"reference": "numerical"}), ValueError,
                                  "draws random numbers"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_gets_one_clear_message(case):
    call, error, message = BAD_INPUTS[case]
    forward, arrays, grads, *options = call
    with pytest.raises(error, match=message):
        check_grads(forward, arrays, grads, **(options[0] if options else {}))
