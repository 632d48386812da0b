"""Lectures 7 to 11 (pruning, seeds, extrapolation, the autoencoder, the adding problem): their math and their twins."""

import importlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, run

from scratch import data
from torch_impl.parity import TRAJECTORY_RTOL

LECTURES = ROOT / "scripts" / "lectures"
FLOAT64_100_STEPS = TRAJECTORY_RTOL[np.dtype(np.float64)]  # the README's bound after 100 optimizer steps


@pytest.fixture
def lecture(monkeypatch):
    """Import a lecture script as a module, to test its functions one by one."""
    monkeypatch.syspath_prepend(str(LECTURES))
    torch.set_num_threads(1)
    return importlib.import_module


def demo(name: str, tmp_path: Path, *argv) -> str:
    """Run `scripts/lectures/<name>.py --fast --plot tmp_path *argv`; its output, after checking it succeeded."""
    result = run(LECTURES / f"{name}.py", "--fast", "--plot", tmp_path, *argv, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pngs(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.png"))


# -- 7. pruning --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.97, 0.99])
def test_numpy_magnitude_mask_is_torchs(lecture, fraction):
    pruning = lecture("pruning")
    weight = np.random.default_rng(1).standard_normal((30, 17))
    layer = torch.nn.Linear(17, 30, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
    torch.nn.utils.prune.l1_unstructured(layer, "weight", amount=fraction)
    np.testing.assert_array_equal(pruning.magnitude_mask(weight, fraction), layer.weight_mask.numpy())


def test_pruning_curves_agree_point_for_point(lecture, tiny_data_dir, tmp_path):
    fractions = lecture("pruning").FRACTIONS
    out = demo("pruning", tmp_path, "--hidden", "32", "--data-dir", tiny_data_dir)
    rows = re.findall(r"^\s+(\d+)%\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+(.+)$", out, re.MULTILINE)
    assert [int(r[0]) / 100 for r in rows] == fractions
    for fraction, (_, left, numpy_acc, torch_acc, same, masks) in zip(fractions, rows):
        assert int(left.replace(",", "")) == sum(n - round(fraction * n) for n in (784 * 32, 32 * 10))  # per layer
        assert numpy_acc == torch_acc and same == "100.00" and masks.strip() == "identical"
    assert "agree at every point: yes" in out
    assert pngs(tmp_path) == ["pruning.png"]


# -- 8. seeds ----------------------------------------------------------------------------------------------------
def test_each_seeds_twins_agree_and_the_summary_is_their_statistics(tmp_path):
    # synthetic data: the tiny IDX fixture is learnt perfectly from every seed, which would leave no spread to check
    out = demo("seeds", tmp_path, "--dtype", "float64", "--data-dir", tmp_path / "no-data-here")
    assert "synthetic data" in out
    per_seed = re.findall(r"seed\s+(\d+): test accuracy NumPy ([\d.]+)%, torch ([\d.]+)%, same prediction on "
                          r"([\d.]+)%", out)
    assert [int(seed) for seed, *_ in per_seed] == [0, 1, 2]
    assert all(numpy_acc == torch_acc and same == "100.00" for _, numpy_acc, torch_acc, same in per_seed)
    acc = np.array([float(numpy_acc) for _, numpy_acc, _, _ in per_seed])
    assert acc.max() - acc.min() >= 0.1  # the seeds spread
    summary = re.search(r"NumPy: mean ([\d.]+)%, standard deviation ([\d.]+)%, worst ([\d.]+)% \(seed (\d)\), "
                        r"best ([\d.]+)% \(seed (\d)\), spread ([\d.]+)%", out)
    mean, std, worst, worst_seed, best, best_seed, spread = map(float, summary.groups())
    assert abs(mean - acc.mean()) < 0.006 and abs(std - acc.std(ddof=1)) < 0.006
    assert (worst, best, worst_seed, best_seed) == (acc.min(), acc.max(), acc.argmin(), acc.argmax())
    assert abs(spread - (acc.max() - acc.min())) < 0.006
    assert pngs(tmp_path) == ["seeds.png"]


# -- 9. extrapolation --------------------------------------------------------------------------------------------
def second_difference(model, a: float) -> float:
    """f(3a) - 2 f(2a) + f(a), relative to |f|: 0 where f is linear on [a, 3a]."""
    f = model(np.array([[a], [2 * a], [3 * a]]))[:, 0]
    return abs(f[2] - 2 * f[1] + f[0]) / np.abs(f).max()


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_far_outside_the_window_each_net_does_what_its_activation_dictates(lecture, activation):
    extrapolation = lecture("extrapolation")
    x = np.linspace(-np.pi, np.pi, 50)[:, None]
    model, twin, loss, t_loss = extrapolation.fit(activation, x, np.sin(x), 100, 0.01, 0)
    wide = np.linspace(-3 * np.pi, 3 * np.pi, 101)[:, None]
    gap = np.abs(model(wide) - extrapolation.predict_torch(twin, wide)).max()
    assert gap <= FLOAT64_100_STEPS * np.abs(model(wide)).max() and abs(loss - t_loss) <= FLOAT64_100_STEPS * loss
    for sign in (1, -1):
        far = model(np.array([[sign * 1e6], [sign * 1e7]]))[:, 0]
        if activation == "tanh":  # every unit saturates to exactly +-1: a constant
            assert far[0] == far[1]
        else:  # relu, and gelu (x * Phi(x) is x or 0 in float64 out there): exactly linear beyond the last kink
            assert second_difference(model, sign * 1e6) < 1e-9


def test_extrapolation_demo_runs(tmp_path):
    out = demo("extrapolation", tmp_path)
    rows = re.findall(r"^\s+(tanh|relu|gelu)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$", out, re.MULTILINE)
    assert [r[0] for r in rows] == ["tanh", "relu", "gelu"]
    assert all(float(r[-2]) <= 1e-12 for r in rows)  # 300 steps from the same weights: rounding apart
    assert pngs(tmp_path) == ["extrapolation.png"]


# -- 10. the autoencoder -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("normal, anomalies, auc", [
    ([1, 2, 3], [4, 5], 1.0), ([4, 5], [1, 2, 3], 0.0), ([2, 2], [2, 2, 2], 0.5),
    ([1, 2, 3], [2, 4], 0.75),  # anomaly 2: above 1, tied with 2, below 3 -> 1.5 of 3; anomaly 4: 3 of 3
])
def test_both_auc_formulas_on_hand_counted_cases(lecture, normal, anomalies, auc):
    autoencoder = lecture("autoencoder")
    assert autoencoder.auc_ranks(np.array(normal, float), np.array(anomalies, float)) == auc
    assert autoencoder.auc_pairs(torch.tensor(normal, dtype=torch.float64),
                                 torch.tensor(anomalies, dtype=torch.float64)) == auc


@pytest.mark.parametrize("seed", range(3))
def test_rank_sum_and_pair_count_agree_with_ties(lecture, seed):
    autoencoder = lecture("autoencoder")
    rng = np.random.default_rng(seed)
    normal, anomalies = rng.integers(0, 20, 3000).astype(float), rng.integers(5, 25, 2500).astype(float)
    ranks = autoencoder.auc_ranks(normal, anomalies)
    assert abs(ranks - autoencoder.auc_pairs(torch.from_numpy(normal), torch.from_numpy(anomalies))) < 1e-12


@pytest.mark.parametrize("use_files", [True, False])
def test_autoencoder_twins_score_the_same(tiny_data_dir, tmp_path, use_files):
    data_dir = tiny_data_dir if use_files else tmp_path / "no-data-here"
    out = demo("autoencoder", tmp_path, "--dtype", "float64", "--data-dir", data_dir)
    assert ("slices of MNIST" if use_files else "synthetic images") in out
    for numpy_loss, torch_loss in re.findall(r"reconstruction MSE NumPy ([\d.]+), torch ([\d.]+)", out):
        assert numpy_loss == torch_loss
    auc = re.search(r"NumPy ([\d.]+) \(rank sum\), torch ([\d.]+) \(every pair\)", out).groups()
    formulas = re.search(r"rank sum ([\d.]+), every pair ([\d.]+)", out).groups()
    assert auc[0] == auc[1] and formulas[0] == formulas[1]
    assert pngs(tmp_path) == ["autoencoder_scores.png"]


def test_autoencoder_without_data_says_what_to_do(tmp_path):
    result = run(LECTURES / "autoencoder.py", "--data-dir", tmp_path)
    assert result.returncode == 2 and "mnist data not found" in result.stderr and "--fast" in result.stderr
    assert "Traceback" not in result.stderr


# -- 11. the adding problem --------------------------------------------------------------------------------------
def test_adding_batches_mark_one_value_in_each_half_and_sum_them(lecture):
    adding = lecture("adding_problem")
    x, y = adding.adding_batch(np.random.default_rng(0), 12, 500)
    values, markers = x[..., 0], x[..., 1]
    assert x.shape == (12, 500, 2) and y.shape == (500, 1)
    np.testing.assert_array_equal(markers[:6].sum(axis=0), 1)
    np.testing.assert_array_equal(markers[6:].sum(axis=0), 1)
    first, second = markers[:6].argmax(axis=0), 6 + markers[6:].argmax(axis=0)  # (500,) each: the marked steps
    columns = np.arange(500)
    np.testing.assert_array_equal(y[:, 0], values[first, columns] + values[second, columns])


def test_answering_one_scores_a_sixth(lecture):
    """Var(u1 + u2) = 1/6 for independent uniform u: the baseline the lecture quotes, within 4 standard errors."""
    _, y = lecture("adding_problem").adding_batch(np.random.default_rng(1), 10, 200_000)
    squared = (1 - y) ** 2
    assert abs(squared.mean() - 1 / 6) < 4 * squared.std() / np.sqrt(len(y))


def test_adding_problem_twins_agree(tmp_path):
    out = demo("adding_problem", tmp_path)
    rows = re.findall(r"^\s+(LSTM|RNN)\s+10\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+\S+$", out, re.MULTILINE)
    assert [r[0] for r in rows] == ["LSTM", "RNN"]
    for _, numpy_mse, torch_mse, _, gap in rows:
        assert numpy_mse == torch_mse and float(gap) <= FLOAT64_100_STEPS  # 60 steps, float64
    assert f"1/6 = {1 / 6:.4f}" in out
    assert pngs(tmp_path) == ["adding_problem.png"]


# -- bad options ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, argv, message", [
    ("seeds", ["--seeds", "1"], "--seeds must be at least 2 for a spread, got 1"),
    ("seeds", ["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got '0'"),
    ("pruning", ["--lr", "nan"], "argument --lr: expected a finite number > 0, got 'nan'"),
    ("autoencoder", ["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    ("adding_problem", ["--lengths", "10", "1"], "every length must be at least 2 (one marker in each half)"),
    ("extrapolation", ["--plot", "A_FILE"], "is a file, expected a folder for the figures"),
])
def test_bad_options_stop_before_any_work_with_one_message(lecture, capsys, tmp_path, name, argv, message):
    (tmp_path / "A_FILE").write_text("not a folder")
    argv = [str(tmp_path / arg) if arg == "A_FILE" else arg for arg in argv]
    with pytest.raises(SystemExit) as stop:
        lecture(name).main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert stop.value.code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err


# -- the real data, short ----------------------------------------------------------------------------------------
def needs(*datasets: str) -> None:
    for name in datasets:
        if data.missing_files(name):
            pytest.skip(f"needs the {name} files in {data.default_data_dir()} (set MLP_PARITY_DATA)")


@pytest.mark.slow
def test_pruning_on_mnist(tmp_path):
    needs("mnist")
    result = run(LECTURES / "pruning.py", "--epochs", "1", "--hidden", "100")
    assert result.returncode == 0, result.stderr
    assert "agree at every point: yes" in result.stdout and "differ" not in result.stdout
    unpruned = float(re.search(r"^\s+0%\s+[\d,]+\s+([\d.]+)%", result.stdout, re.MULTILINE).group(1))
    assert unpruned >= 95.0  # one epoch of SGD on a 784-100-10 MLP


@pytest.mark.slow
def test_autoencoder_flags_fashion_mnist(tmp_path):
    needs("mnist", "fashion_mnist")
    result = run(LECTURES / "autoencoder.py", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    numpy_auc, torch_auc = map(float, re.search(r"NumPy ([\d.]+) \(rank sum\), torch ([\d.]+)", result.stdout).groups())
    assert numpy_auc > 0.9 and abs(numpy_auc - torch_auc) < 0.005  # float32 twins over one epoch
