"""Bad input to `mlp-parity` and to the scratch API: one message naming what was expected and what came, exit 2."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, one_error, run

import scratch
from torch_impl.cli import main


def strict_json(text: str):
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def refused(capsys, argv: list[str], *phrases: str) -> str:
    """Run `mlp-parity argv`, expecting exit 2 and one message, from the parser or from the command."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    assert code == 2, captured
    return one_error(captured.err, *phrases)


TINY = ["--sizes", "12,8,4", "--steps", "2"]


def test_check_json_with_an_infinite_tolerance_is_strict(capsys):
    assert main(["check", *TINY, "--json", "--rtol", "inf"]) == 0
    result = strict_json(capsys.readouterr().out)
    assert result["ok"] and result["step"]["rtol"] is None and result["trajectory"]["rtol"] is None


@pytest.mark.parametrize("option, value, message", [
    ("--rtol", "nan", "--rtol: expected a number >= 0, got nan"),
    ("--rtol", "-1", "--rtol: expected a number >= 0, got -1.0"),
    ("--lr", "inf", "--lr: expected a finite number > 0, got inf"),
    ("--lr", "-0.1", "--lr: expected a finite number > 0, got -0.1"),
    ("--seed", "-1", "--seed: expected an integer from 0 to 4294967295, got '-1'"),
    ("--steps", "-1", "--steps must be >= 0"),
    ("--device", "toaster", "--device: expected cpu or cuda"),
])
def test_check_refuses_bad_values(capsys, option, value, message):
    refused(capsys, ["check", *TINY, option, value], message)


@pytest.mark.parametrize("argv", [["--sizes", "784,100000000,10"], ["--batch-size", "1000000000"]],
                         ids=["width", "batch"])
def test_check_refuses_absurd_sizes_before_allocating(capsys, argv):
    message = refused(capsys, ["check", "--steps", "1", *argv], "needs about", "GB", "available")
    assert "784-100000000-10" in message or "batch 1000000000" in message


def test_twin_refuses_a_model_that_does_not_fit_the_data(capsys, tiny_data_dir):
    data = ["twin", "--data-dir", str(tiny_data_dir), "--limit-steps", "2"]
    refused(capsys, [*data, "--sizes", "784,64,5"], "--sizes ends with 5 outputs, but mnist has 10 classes")
    refused(capsys, [*data, "--sizes", "100,10"], "--sizes starts with 100 inputs, but mnist images have 784")


def test_twin_checks_the_plot_path_before_training(capsys, tiny_data_dir, tmp_path):
    (tmp_path / "curves.png").mkdir()
    for plot, reason in ((tmp_path / "curves.png", "is a folder; expected a file name"),
                         ("/proc/self/curves.png", "cannot write in /proc")):
        refused(capsys, ["twin", "--data-dir", str(tiny_data_dir), "--limit-steps", "2", "--plot", str(plot)], reason)


def test_json_into_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "torch_impl.cli", "check", *TINY, "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # as `| head` does once it has read enough
    stderr = proc.stderr.read()
    proc.wait(timeout=300)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("sizes", [[4, 3.7, 2], [4, "3", 2], [4.0, 3, 2], [4, True, 2]])
def test_widths_must_be_integers(sizes):
    with pytest.raises(ValueError, match=r"widths must be whole numbers"):
        scratch.mlp(sizes)


def test_numpy_integer_widths_are_integers():
    model = scratch.mlp(np.array([4, 3, 2]))
    assert model[0].weight.shape == (3, 4) and type(model[2].out_features) is int


@pytest.mark.parametrize("bad", [np.zeros((2, 3), np.complex128), np.full((2, 3), "x"), np.full((2, 3), None)],
                         ids=["complex", "str", "object"])
def test_load_state_dict_checks_every_dtype_before_writing(bad):
    model = scratch.mlp([4, 3, 2], seed=0)
    before = model.state_dict()
    new = {key: np.ones_like(value) for key, value in before.items()}
    new["2.weight"] = bad  # the last-but-one key: a half-load would have written three arrays first
    with pytest.raises(ValueError, match=rf"'2.weight' holds {bad.dtype} values, expected real numbers"):
        model.load_state_dict(new)
    assert all(np.array_equal(model.state_dict()[key], value) for key, value in before.items()), "half-loaded"


@pytest.fixture
def corrupt_gzip_data(tiny_data_dir):
    """The tiny data with MNIST's training images as a .gz whose deflate stream is damaged."""
    raw = tiny_data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte"
    packed = bytearray(gzip.compress(raw.read_bytes()))
    packed[40:60] = bytes(b ^ 0xFF for b in packed[40:60])
    raw.with_suffix(".gz").write_bytes(bytes(packed))
    raw.unlink()
    return tiny_data_dir, raw.with_suffix(".gz")


def test_a_corrupt_gzip_is_one_message_in_every_entry_point(corrupt_gzip_data, tmp_path, capsys):
    data_dir, bad = corrupt_gzip_data
    expected = (str(bad), "delete it and fetch it again")
    refused(capsys, ["twin", "--data-dir", str(data_dir), "--limit-steps", "1"], *expected)
    train_numpy = run("scripts/train_numpy.py", "--data-dir", data_dir, "--out", tmp_path / "run", "--dry-run")
    assert train_numpy.returncode == 2
    one_error(train_numpy.stderr, *expected)
    lightning = run("scripts/train_mnist.py", "--data.data_dir", data_dir, "--trainer.default_root_dir",
                    tmp_path / "runs", "--data.download", "false", cwd=tmp_path)
    assert lightning.returncode == 2
    one_error(lightning.stderr, *expected)
