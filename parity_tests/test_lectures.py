"""The lecture demos run, print what the notes' lesson needs, and write their figures."""

import importlib.util
import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from scratch import data

LECTURES = Path(__file__).resolve().parents[1] / "scripts" / "lectures"


class Result(NamedTuple):
    code: int
    out: str
    err: str
    plots: Path


@pytest.fixture
def run(monkeypatch, capsys, tmp_path):
    """Import a demo and call its main(argv) with --plot into a temporary folder."""
    monkeypatch.syspath_prepend(str(LECTURES))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: on a busy machine, handing work between threads costs more than it saves

    def run_demo(name: str, *argv: str) -> Result:
        spec = importlib.util.spec_from_file_location(f"lecture_{name}", LECTURES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        plots = tmp_path / "plots"
        code = module.main([*argv, "--plot", str(plots)])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err, plots)

    yield run_demo
    torch.set_num_threads(threads)


def pngs(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.png"))


def test_linear_regression_shows_the_factor_n(run):
    code, out, _, plots = run("linear_regression")
    assert code == 0
    assert "ratio notes / autograd = 4.0" in out
    assert "gradient at w = 0: notes -120.000, corrected -30.000, autograd -30.000" in out
    assert re.search(r"dw \(notes\) against autograd: max rel 3\.00e\+00, FAIL", out)
    assert re.search(r"dw \(corrected\) against autograd: .*, ok", out)
    assert "prediction before training: f(5) = 0.000" in out and "autograd f(5) = 8.031" in out
    assert pngs(plots) == ["linear_regression.png"]


def test_two_layer_relu_checker_names_w1s_gradient(run):
    code, out, _, plots = run("two_layer_relu", "--fast")
    assert code == 0
    notes, corrected = out.split("the corrected backward against autograd")
    assert "first disagreement: w1.grad" in notes and "the checker names w1.grad" in notes
    assert re.search(r"w2\.grad .* ok", notes)
    assert "all tensors agree" in corrected
    assert re.search(r"corrected against autograd: w1 max rel \S+ ok, w2 max rel \S+ ok", out)
    assert pngs(plots) == ["two_layer_relu.png"]


def test_sine_tanh_checker_catches_the_post_bias_derivative(run):
    code, out, _, plots = run("sine_tanh", "--fast")
    assert code == 0
    notes, corrected = out.split("the corrected backward against autograd")
    assert "first disagreement: W2.grad" in notes and re.search(r"b2\.grad .* ok", notes)
    assert "all tensors agree" in corrected
    assert "with every bias set to 0: passes" in out
    assert "it does not extrapolate" in out
    assert pngs(plots) == ["sine_tanh.png"]


def accuracies(out: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"test accuracy NumPy ([\d.]+)%, torch ([\d.]+)%", out)]


def test_softmax_regression_fast_on_synthetic_data(run, monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_PARITY_DATA", str(tmp_path / "no-data-here"))
    code, out, _, plots = run("softmax_regression", "--fast")
    assert code == 0 and "synthetic data" in out
    results = accuracies(out)
    assert len(results) == 2 and all(numpy_acc == torch_acc for numpy_acc, torch_acc in results)
    assert pngs(plots) == ["softmax_regression_accuracy.png", "softmax_regression_weights.png"]


def test_softmax_regression_fast_reads_a_slice_of_the_idx_files(run, tiny_data_dir):
    code, out, _, _ = run("softmax_regression", "--fast", "--data-dir", str(tiny_data_dir))
    assert code == 0 and "data: a slice of MNIST (300 train, 100 test)" in out
    assert len(accuracies(out)) == 2


def test_softmax_regression_without_data_says_what_to_do(run, monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_PARITY_DATA", str(tmp_path / "no-data-here"))
    result = run("softmax_regression")
    assert result.code == 2 and "mnist data not found" in result.err and "run with --fast" in result.err


@pytest.mark.slow
def test_softmax_regression_on_mnist_reaches_92_percent(run):
    if data.missing_files("mnist"):
        pytest.skip(f"needs the MNIST files in {data.default_data_dir()} (set MLP_PARITY_DATA)")
    code, out, _, _ = run("softmax_regression")
    (softmax_numpy, softmax_torch), (hidden_numpy, _) = accuracies(out)
    assert code == 0 and softmax_numpy >= 91.5 and abs(softmax_numpy - softmax_torch) <= 0.1
    assert hidden_numpy >= 96.5


def test_universal_approximation_error_falls_with_width(run):
    code, out, _, plots = run("universal_approximation", "--fast")
    assert code == 0
    table = re.findall(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+\S+$", out, re.MULTILINE)
    assert [int(width) for width, _, _ in table] == [1, 2, 4, 8, 16, 64]
    errors = [float(mse) for _, mse, _ in table]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert all(abs(float(m) - float(t)) <= 1e-9 * float(t) for _, m, t in table)
    assert "falls with every doubling of the width: yes" in out
    assert pngs(plots) == ["universal_approximation.png"]


def test_logistic_graph_local_derivatives_match_autograd(run):
    code, out, _, plots = run("logistic_graph", "--fast")
    assert code == 0
    for name in ("dL/da", "da/dz", "dz/dw", "dz/dx", "dz/db", "dL/dz", "dL/dw", "dL/dx", "dL/db"):
        assert re.search(rf"{re.escape(name)}\s+\S+\s+\S+\s+\S+\s+ok$", out, re.MULTILINE), name
    assert "every hand-written derivative matches autograd: yes" in out
    assert pngs(plots) == ["logistic_sigmoid.png"]


def test_a_demo_runs_as_a_script():
    result = subprocess.run([sys.executable, str(LECTURES / "linear_regression.py"), "--fast"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "ratio notes / autograd = 4.0" in result.stdout
