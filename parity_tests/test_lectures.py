"""The lecture demos run, print what the notes' lesson needs, and write their figures."""

import importlib.util
import itertools
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from helpers import ROOT, close, run

from scratch import data
from torch_impl.parity import STEP_RTOL, TRAJECTORY_RTOL

LECTURES = ROOT / "scripts" / "lectures"


class Result(NamedTuple):
    code: int
    out: str
    err: str
    plots: Path


@pytest.fixture
def demo(monkeypatch, capsys, tmp_path, one_thread):
    """Import a demo and call its main(argv) with --plot into a temporary folder."""
    monkeypatch.syspath_prepend(str(LECTURES))

    def run_demo(name: str, *argv: str) -> Result:
        spec = importlib.util.spec_from_file_location(f"lecture_{name}", LECTURES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        plots = tmp_path / "plots"
        code = module.main([*argv, "--plot", str(plots)])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err, plots)

    return run_demo


def pngs(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.png"))


# Linear regression, f(x) = w * x on x = 1, 2, 3, 4 and y = 2x, from w = 0 at lr 0.01: the mean squared error
# mean((w x - 2x)^2) = 7.5 (w - 2)^2 has the gradient 15 (w - 2), and the notes' gradient is N = 4 times that. Each
# step multiplies w - 2 by 1 - 0.01 * 15 = 0.85 (the notes': by 1 - 0.01 * 60 = 0.4), so after k steps
# w = 2 - 2 * 0.85**k and the loss before step k is 30 * 0.85**(2 (k - 1)).
N, MEAN_X2, LR = 4, 7.5, 0.01
SHRINK = {"notes": 1 - LR * 2 * N * MEAN_X2, "corrected": 1 - LR * 2 * MEAN_X2, "autograd": 1 - LR * 2 * MEAN_X2}
# The demo prints w with 3 decimals and the loss with 8, both computed in float32 over 10 steps: each printed value is
# held to the table's float32 trajectory bound plus half a unit of its last printed digit.
PRINTED = {"w": 5e-4, "loss": 5e-9}


def test_linear_regression_shows_the_factor_n(demo):
    code, out, _, plots = demo("linear_regression")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if re.fullmatch(r"\s*\d+(\s+\S+){6}", line)]
    assert [int(row[0]) for row in rows] == list(range(1, 11))
    float32 = TRAJECTORY_RTOL[np.dtype(np.float32)]
    for i, name in enumerate(SHRINK):
        w = np.array([float(row[1 + 2 * i]) for row in rows])
        loss = np.array([float(row[2 + 2 * i]) for row in rows])
        k = np.arange(1, 11)
        close(f"{name} w", w, 2 - 2 * SHRINK[name] ** k, float32, PRINTED["w"])
        before = 2 - 2 * SHRINK[name] ** (k - 1)  # w before step k
        close(f"{name} loss", loss, MEAN_X2 * (before - 2) ** 2, float32, PRINTED["loss"])
    gradient = 2 * MEAN_X2 * (0 - 2)  # 15 (w - 2) at w = 0
    assert f"gradient at w = 0: notes {N * gradient:.3f}, corrected {gradient:.3f}, autograd {gradient:.3f}" in out
    assert f"ratio notes / autograd = {float(N):.1f}" in out
    assert f"dw (notes) against autograd: max rel {N - 1:.2e}, FAIL" in out  # |4g - g| / |g| = 3
    assert re.search(r"dw \(corrected\) against autograd: .*, ok", out)
    assert "prediction before training: f(5) = 0.000" in out
    fits = {name: 5 * (2 - 2 * shrink**10) for name, shrink in SHRINK.items()}
    assert ", ".join(f"{name} f(5) = {fit:.3f}" for name, fit in fits.items()) in out  # 9.999, 8.031, 8.031
    assert pngs(plots) == ["linear_regression.png"]


def test_two_layer_relu_checker_names_w1s_gradient(demo):
    code, out, _, plots = demo("two_layer_relu", "--fast")
    assert code == 0
    notes, corrected = out.split("the corrected backward against autograd")
    assert "first disagreement: w1.grad" in notes and "the checker names w1.grad" in notes
    assert re.search(r"w2\.grad .* ok", notes)
    assert "all tensors agree" in corrected
    assert re.search(r"corrected against autograd: w1 max rel \S+ ok, w2 max rel \S+ ok", out)
    assert pngs(plots) == ["two_layer_relu.png"]


def test_sine_tanh_checker_catches_the_post_bias_derivative(demo):
    code, out, _, plots = demo("sine_tanh", "--fast")
    assert code == 0
    notes, corrected = out.split("the corrected backward against autograd")
    assert "first disagreement: W2.grad" in notes and re.search(r"b2\.grad .* ok", notes)
    assert "all tensors agree" in corrected
    assert "with every bias set to 0: passes" in out
    assert "it does not extrapolate" in out
    assert pngs(plots) == ["sine_tanh.png"]


def accuracies(out: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"test accuracy NumPy ([\d.]+)%, torch ([\d.]+)%", out)]


def test_softmax_regression_fast_on_synthetic_data(demo, monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_PARITY_DATA", str(tmp_path / "no-data-here"))
    code, out, _, plots = demo("softmax_regression", "--fast")
    assert code == 0 and "synthetic data" in out
    results = accuracies(out)
    assert len(results) == 2 and all(numpy_acc == torch_acc for numpy_acc, torch_acc in results)
    assert pngs(plots) == ["softmax_regression_accuracy.png", "softmax_regression_weights.png"]


def test_softmax_regression_fast_reads_a_slice_of_the_idx_files(demo, tiny_data_dir):
    code, out, _, _ = demo("softmax_regression", "--fast", "--data-dir", str(tiny_data_dir))
    assert code == 0 and "data: a slice of MNIST (300 train, 100 test)" in out
    assert len(accuracies(out)) == 2


def test_softmax_regression_without_data_says_what_to_do(demo, monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_PARITY_DATA", str(tmp_path / "no-data-here"))
    result = demo("softmax_regression")
    assert result.code == 2 and "mnist data not found" in result.err and "run with --fast" in result.err


@pytest.mark.slow
def test_softmax_regression_on_mnist_reaches_92_percent(demo):
    if data.missing_files("mnist"):
        pytest.skip(f"needs the MNIST files in {data.default_data_dir()} (set MLP_PARITY_DATA)")
    code, out, _, _ = demo("softmax_regression")
    (softmax_numpy, softmax_torch), (hidden_numpy, _) = accuracies(out)
    assert code == 0 and softmax_numpy >= 91.5 and abs(softmax_numpy - softmax_torch) <= 0.1
    assert hidden_numpy >= 96.5


def test_universal_approximation_error_falls_with_width(demo):
    code, out, _, plots = demo("universal_approximation", "--fast")
    assert code == 0
    table = re.findall(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+\S+$", out, re.MULTILINE)
    assert [int(width) for width, _, _ in table] == [1, 2, 4, 8, 16, 64]
    errors = [float(mse) for _, mse, _ in table]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    # both sides print 4 digits of the same float64 computation
    close("torch MSE", np.array([float(m) for _, m, _ in table]), np.array([float(t) for _, _, t in table]), 0)
    assert "falls with every doubling of the width: yes" in out
    assert pngs(plots) == ["universal_approximation.png"]


def test_logistic_graph_local_derivatives_match_autograd(demo):
    code, out, _, plots = demo("logistic_graph", "--fast")
    assert code == 0
    # z = w x + b, a = sigma(z), L = -log(a) for y = 1, at the demo's defaults w = -0.8, x = 1.5, b = 0.3
    w, x, b = -0.8, 1.5, 0.3
    a = 1 / (1 + math.exp(-(w * x + b)))
    expected = {"dL/da": -1 / a, "da/dz": a * (1 - a), "dz/dw": x, "dz/dx": w, "dz/db": 1.0,
                "dL/dz": a - 1, "dL/dw": (a - 1) * x, "dL/dx": (a - 1) * w, "dL/db": a - 1}
    for name, value in expected.items():
        found = re.search(rf"^\s*{re.escape(name)}\s+(\S+)\s+(\S+)\s+\S+\s+ok$", out, re.MULTILINE)
        assert found, name
        by_hand, autograd = (np.float64(v) for v in found.groups())  # printed with 16 decimals
        close(f"{name} by hand", by_hand, np.float64(value), STEP_RTOL[np.dtype(np.float64)])
        close(f"{name} autograd", autograd, np.float64(value), STEP_RTOL[np.dtype(np.float64)])
    assert "every hand-written derivative matches autograd: yes" in out
    assert pngs(plots) == ["logistic_sigmoid.png"]


def test_a_demo_runs_as_a_script():
    result = run("scripts/lectures/linear_regression.py", "--fast", timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"ratio notes / autograd = {float(N):.1f}" in result.stdout
