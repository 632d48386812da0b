"""`mlp-parity twin`: the NumPy model and its torch twin trained on the same batches end where the tolerances say."""

import json

import numpy as np
import pytest
from helpers import close

from scratch import data
from scratch import optim as soptim
from torch_impl.cli import main
from torch_impl.parity import TRAJECTORY_RTOL, Report
from torch_impl.parity.drift import Drift
from torch_impl.parity.rounding import ROUNDING_FACTOR, WITHIN
from torch_impl.parity.twin import (
    MAX_ACCURACY_GAP,
    MIN_AGREEMENT,
    STATE_RTOL,
    TwinConfig,
    TwinResult,
    batches,
    load_split,
    run_twin,
)

# On the tiny dataset float32 weights stay within the 100-step trajectory tolerance too (on MNIST they need not:
# there torch's own rounding sets the bound). The momentum buffers do not: after 210 float32 steps they hold small,
# nearly cancelled gradients, and torch float32 drifts 2.1e-4 from torch float64 there (scratch 2.2e-4), so those rows
# pass within torch's own rounding.
WEIGHT_RTOL = {"float64": STATE_RTOL[np.dtype(np.float64)], "float32": TRAJECTORY_RTOL[np.dtype(np.float32)]}


def twin_on(data_dir, **settings):
    config = TwinConfig(data_dir=str(data_dir), **settings)
    return run_twin(config, load_split(config, "train"), load_split(config, "test"))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_a_few_hundred_steps_on_the_tiny_dataset(tiny_data_dir, dtype, optimizer):
    # 300 images in batches of 20: 15 steps an epoch, 14 epochs
    result = twin_on(tiny_data_dir, sizes=[784, 32, 10], dtype=dtype, optimizer=optimizer, epochs=14, batch_size=20)
    assert result.steps == 210
    assert result.max_param_diff <= WEIGHT_RTOL[dtype], f"\n{result.params}"
    assert result.optimizer_state.ok, f"\n{result.optimizer_state}"
    assert result.agreement >= MIN_AGREEMENT[np.dtype(dtype)]
    assert result.accuracy_gap <= MAX_ACCURACY_GAP[np.dtype(dtype)]
    assert result.numpy_test_acc > 0.9  # it learned: the same batches reached a useful model on both sides
    assert result.ok


def test_limit_steps_stops_early_and_both_sides_see_the_same_losses(tiny_data_dir):
    result = twin_on(tiny_data_dir, sizes=[784, 16, 10], epochs=3, batch_size=64, limit_steps=7)
    assert result.steps == len(result.torch_losses) == 7
    close("losses", np.array(result.losses), np.array(result.torch_losses), 1e-12)  # float64, 7 steps
    assert result.max_loss_diff <= 1e-12


def test_batches_cover_every_image_once_in_a_seeded_order():
    first = [idx.tolist() for idx in batches(10, 4, np.random.default_rng(0))]
    again = [idx.tolist() for idx in batches(10, 4, np.random.default_rng(0))]
    assert first == again and [len(b) for b in first] == [4, 4, 2]
    assert sorted(i for b in first for i in b) == list(range(10))


def test_config_is_checked():
    with pytest.raises(ValueError, match="epochs, batch_size and limit_steps must be >= 1, got 1, 0 and None"):
        TwinConfig(batch_size=0)
    assert TwinConfig(batch_size=128).planned_steps(60_000) == 469
    assert TwinConfig(epochs=2, limit_steps=500).planned_steps(60_000) == 500


def test_data_of_the_wrong_dtype_is_refused(tiny_data_dir):
    config = TwinConfig(data_dir=str(tiny_data_dir), dtype="float32", sizes=[784, 8, 10])
    train = load_split(TwinConfig(data_dir=str(tiny_data_dir)), "train")  # float64
    with pytest.raises(TypeError, match="the twins train in float32, but the data is float64"):
        run_twin(config, train, train)


def test_command_prints_json_and_writes_the_plot(tiny_data_dir, tmp_path, capsys):
    plot = tmp_path / "plots" / "twin.png"
    code = main(["twin", "--data-dir", str(tiny_data_dir), "--sizes", "784,16,10", "--epochs", "2",
                 "--batch-size", "50", "--plot", str(plot), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"]
    assert report["steps"] == 12 and report["params"]["rows"][0]["shape"] == [16, 784]  # --sizes 784,16,10
    assert {"max_loss_diff", "max_param_diff", "numpy_test_acc", "torch_test_acc", "agreement"} <= set(report)
    assert report["max_param_diff"] <= 1e-9 and report["agreement"] == 1.0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_float32_json_is_strict_json(tiny_data_dir, capsys):
    main(["twin", "--data-dir", str(tiny_data_dir), "--sizes", "784,8,10", "--limit-steps", "2", "--dtype", "float32",
          "--json"])
    report = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    rounding = report["torch_vs_torch"]["rounding"]  # per tensor, torch float32's worst max|difference| from float64
    for group in ("params", "optimizer_state"):
        assert report[group]["rtol"] == TRAJECTORY_RTOL[np.dtype(np.float32)]
        for row in report[group]["rows"]:  # within the table, or within ROUNDING_FACTOR x torch's own rounding
            beyond = row["max_abs"] > report[group]["rtol"] * row["max_expected"]
            assert not beyond or (row["note"].startswith(WITHIN)
                                  and row["max_abs"] <= ROUNDING_FACTOR * rounding[row["name"]]), row


def test_command_prints_tables(tiny_data_dir, capsys):
    code = main(["twin", "--data-dir", str(tiny_data_dir), "--sizes", "784,8,10", "--limit-steps", "3",
                 "--optimizer", "sgd", "--dtype", "float32"])
    out = capsys.readouterr().out
    assert code == 0 and "0.weight.momentum_buffer" not in out
    assert "identical test predictions: 100.00%" in out and out.rstrip().endswith("PASS")


def test_command_without_data_says_where_it_looked(tmp_path, capsys):
    assert main(["twin", "--data-dir", str(tmp_path), "--dataset", "fashion_mnist"]) == 2
    err = capsys.readouterr().err
    assert "fashion_mnist data not found" in err and str(tmp_path / "FashionMNIST" / "raw") in err


@pytest.mark.slow
def test_real_mnist_100_steps_in_float64():
    if data.missing_files("mnist"):
        pytest.skip(f"MNIST not found under {data.default_data_dir()}; set MLP_PARITY_DATA to run this test")
    config = TwinConfig(dataset="mnist", dtype="float64", optimizer="adam", batch_size=128, limit_steps=100)
    (x, y), (x_test, y_test) = load_split(config, "train"), load_split(config, "test")
    result = run_twin(config, (x[:12_800], y[:12_800]), (x_test[:2000], y_test[:2000]))
    assert result.steps == 100
    assert result.max_param_diff <= 1e-9, f"\n{result.params}"
    assert result.max_state_diff <= 1e-9, f"\n{result.optimizer_state}"
    assert result.agreement == 1.0
    assert result.numpy_test_acc > 0.85  # it learned


def result_with(agreement: float, reference: Drift | None, dtype: str = "float32") -> TwinResult:
    return TwinResult(TwinConfig(dtype=dtype), [], [], Report(), Report(), 9000, 9000, agreement, 10_000, reference)


def test_float32_targets_fall_back_to_torchs_own_drift_only_when_it_exceeds_them():
    steady = result_with(0.9985, Drift(param_diff=1e-6, state_diff=1e-6, agreement=1.0, accuracy_gap=0.0))
    assert steady.required_agreement == 0.999 and not steady.ok  # torch agrees with itself: the target holds
    drifting = result_with(0.9960, Drift(param_diff=0.3, state_diff=0.2, agreement=0.9974, accuracy_gap=0.0004))
    close("required agreement", drifting.required_agreement, 1 - 3 * 0.0026, 1e-12)
    assert drifting.ok
    close("allowed accuracy gap", drifting.allowed_accuracy_gap, 0.0026, 1e-12)
    assert result_with(0.9985, None, "float64").required_agreement == 1.0


def test_optimizer_state_is_judged_in_float64(tiny_data_dir, monkeypatch):
    state_dict = soptim.Optimizer.state_dict

    def reported_off(self):  # the weights train right; only the reported Adam state is 1e-6 off
        state = state_dict(self)
        for tensors in state["state"].values():
            tensors["exp_avg_sq"] *= 1 + 1e-6
        return state

    monkeypatch.setattr(soptim.Optimizer, "state_dict", reported_off)
    result = twin_on(tiny_data_dir, sizes=[784, 16, 10], epochs=1, batch_size=50)
    assert result.params.ok and result.agreement == 1.0
    assert not result.optimizer_state.ok and not result.ok


def test_float32_weights_are_judged_against_torchs_own_drift(tiny_data_dir, monkeypatch):
    update = soptim.Adam.update

    def update_off(self, p, grad, state, group):  # the scratch side's rate 1% too high, torch's right
        update(self, p, grad, state, {**group, "lr": 1.01 * group["lr"]})

    monkeypatch.setattr(soptim.Adam, "update", update_off)
    result = twin_on(tiny_data_dir, sizes=[784, 16, 10], dtype="float32", epochs=2, batch_size=50)
    assert result.reference is not None and result.agreement == 1.0  # the predictions alone would not tell
    failing = [row for row in result.params.rows if not row.ok]
    assert failing and all(row.rounding is not None for row in failing)  # beyond torch's own rounding too
    assert not result.ok
@pytest.mark.slow
def test_real_mnist_epoch_in_float32_is_judged_against_torchs_own_drift():
    # One epoch of float32 Adam is not well conditioned: a ReLU input rounded to the other side of zero sets the
    # weights drifting, torch's from torch's too (measured: 784-128-10, each batch's rows reversed, 99.7% identical
    # predictions). So NumPy is held to the 99.9% target, or to 3x torch's own disagreement where that is larger.
    if data.missing_files("mnist"):
        pytest.skip(f"MNIST not found under {data.default_data_dir()}; set MLP_PARITY_DATA to run this test")
    config = TwinConfig(dataset="mnist", dtype="float32", optimizer="adam", batch_size=128)
    result = run_twin(config, load_split(config, "train"), load_split(config, "test"))
    assert result.steps == 469 and result.reference is not None
    assert result.ok, result.to_dict()
    assert any(row.note.startswith(WITHIN) for row in result.params.rows)  # torch's own rounding set some bounds
