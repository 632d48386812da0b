"""The `mlp-parity check` command: tables, JSON, exit codes and clear errors."""

import json
import re

import pytest
import torch

from torch_impl.cli import main
from torch_impl.parity.rounding import ROUNDING_FACTOR, WITHIN


def check(capsys, *args):
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_and_prints_both_tables(capsys):
    code, out, _ = check(capsys, "--sizes", "20,16,5", "--activation", "tanh", "--steps", "30")
    assert code == 0
    assert "One forward and backward" in out and "After 30 adam steps" in out
    assert "0.weight.exp_avg_sq" in out and out.strip().endswith("PASS")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adamw"])
def test_check_json(capsys, optimizer, dtype):
    code, out, _ = check(capsys, "--sizes", "12,8,4", "--optimizer", optimizer, "--dtype", dtype, "--steps", "20",
                       "--loss", "mse", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"]
    trajectory = result["trajectory"]
    assert result["config"]["optimizer"] == optimizer and trajectory["table_rtol"] == {"float64": 1e-10,
                                                                                       "float32": 1e-4}[dtype]
    assert trajectory["rtol"] == trajectory["table_rtol"]
    if dtype == "float64":
        assert trajectory["torch_drift"] is None and result["worst"]["max_rel"] <= trajectory["rtol"]
    for row in trajectory["rows"]:  # the table, or ROUNDING_FACTOR x torch's own float32 rounding of that tensor
        if row["max_rel"] > trajectory["rtol"]:
            assert row["note"].startswith(WITHIN) and row["max_rel"] <= ROUNDING_FACTOR * row["rounding"], row


def test_check_names_torchs_own_rounding_where_it_sets_the_bound(capsys):
    # issue 12: this run failed at 6.1e-4 against the table's 1e-4, while torch drifts as much from float64
    code, out, _ = check(capsys, "--loss", "mse", "--dtype", "float32", "--optimizer", "adam", "--lr", "1e-2",
                         "--steps", "1")
    assert code == 0 and out.strip().endswith("PASS")
    assert re.search(r"0\.weight .* ok \(within torch's own float32 rounding: \S+\)", out)
    assert re.search(r"torch float32 against torch float64, same weights and batches: \S+ normwise at worst", out)


def test_check_exits_one_when_a_tolerance_is_exceeded(capsys):
    code, out, _ = check(capsys, "--sizes", "12,8,4", "--steps", "5", "--dtype", "float32", "--rtol", "1e-30")
    assert code == 1 and out.strip().endswith("FAIL") and "first disagreement" in out


def test_check_refuses_a_diverging_run(capsys):
    code, _, err = check(capsys, "--sizes", "12,8,4", "--loss", "mse", "--optimizer", "sgd", "--lr", "1e6")
    assert code == 2 and "diverged" in err and "lower the learning rate" in err


def test_check_refuses_nan_in_the_first_loss(capsys):
    code, _, err = check(capsys, "--sizes", "12,8,4", "--lr", "nan", "--steps", "3", "--loss", "mse")
    assert code == 2 and "nan" in err.lower()


def test_check_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--sizes", "784"])
    assert exit_info.value.code == 2
    assert "at least two positive widths" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is visible to torch")
def test_check_on_cuda(capsys):
    code, out, _ = check(capsys, "--device", "cuda", "--dtype", "float32", "--steps", "100", "--json")
    assert code == 0, out
