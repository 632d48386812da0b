"""scripts/train_numpy.py: the dry run CI uses, what a run writes, and its errors."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest
from helpers import one_error

from scratch.io import lock_folder
from torch_impl.interop import model_from_state_dict, read_weights

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A script in a fresh process on one thread per library (two spin against each other on a busy CPU)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def train_numpy():
    spec = importlib.util.spec_from_file_location("train_numpy", SCRIPTS / "train_numpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_model_history_and_plot(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    proc = run("train_numpy.py", "--dry-run", "--data-dir", str(tiny_data_dir), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((out / "history.json").read_text())
    assert saved["config"]["dry_run"] is True and len(saved["history"]["test_acc"]) == 1
    model = model_from_state_dict(read_weights(out / "model.npz"))
    assert [model[i].out_features for i in (0, 2, 4)] == [512, 256, 10]
    assert (out / "history.png").read_bytes()[:4] == b"\x89PNG"


def test_training_learns_the_tiny_dataset(train_numpy, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = train_numpy.main(["--data-dir", str(tiny_data_dir), "--out", str(out), "--epochs", "4", "--sizes",
                             "784,32,10", "--batch-size", "30", "--dtype", "float64", "--optimizer", "momentum",
                             "--lr", "0.05", "--dataset", "fashion_mnist"])
    assert code == 0
    history = json.loads((out / "history.json").read_text())["history"]
    assert history["lr"] == pytest.approx([0.05, 0.035, 0.0245, 0.01715])  # the step decay, gamma 0.7
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["test_acc"][-1] > 0.9
    assert read_weights(out / "model.npz")["0.weight"].dtype == np.float64
    assert "test accuracy" in capsys.readouterr().out


def test_same_seed_same_weights(train_numpy, tiny_data_dir, tmp_path):
    args = ["--data-dir", str(tiny_data_dir), "--dry-run", "--sizes", "784,8,10"]
    for name in ("a", "b"):
        assert train_numpy.main([*args, "--out", str(tmp_path / name)]) == 0
    a, b = read_weights(tmp_path / "a" / "model.npz"), read_weights(tmp_path / "b" / "model.npz")
    assert all(np.array_equal(a[key], b[key]) for key in a)


def test_missing_data_exits_2_with_the_folder(train_numpy, tmp_path, capsys):
    assert train_numpy.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "mnist data not found" in err and str(tmp_path / "MNIST" / "raw") in err


def test_bad_arguments_are_refused(train_numpy, capsys):
    with pytest.raises(SystemExit):
        train_numpy.main(["--sizes", "784,-3,10"])
    assert "expected positive integers, got '784,-3,10'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_numpy.main(["--epochs", "0"])
    assert "--epochs: expected a positive integer, got '0'" in capsys.readouterr().err



def test_a_diverged_run_exits_2_and_keeps_the_good_model(train_numpy, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data-dir", str(tiny_data_dir), "--out", str(out), "--dry-run", "--optimizer", "momentum"]
    assert train_numpy.main(args) == 0
    before = {name: (out / name).read_bytes() for name in ("model.npz", "history.json", "history.png")}
    capsys.readouterr()
    for lr in ("1e5", "1000"):  # NaN in the training loss; NaN only in the weights (and the test loss) at the end
        assert train_numpy.main([*args, "--lr", lr]) == 2
        one_error(capsys.readouterr().err, "diverged", "lower --lr", f"nothing was written to {out}")
        assert {name: (out / name).read_bytes() for name in before} == before


BAD_OPTIONS = {
    ("--lr", "nan"): "--lr: expected a finite number > 0, got 'nan'",
    ("--lr", "inf"): "--lr: expected a finite number > 0, got 'inf'",
    ("--lr", "-1"): "--lr: expected a finite number > 0, got '-1'",
    ("--gamma", "nan"): "--gamma: expected a number in (0, 1], got 'nan'",
    ("--gamma", "-5"): "--gamma: expected a number in (0, 1], got '-5'",
    ("--batch-size", "0"): "--batch-size: expected a positive integer, got '0'",
    ("--epochs", "0"): "--epochs: expected a positive integer, got '0'",
    ("--seed", "-1"): "--seed: expected an integer from 0 to 4294967295, got '-1'",
    ("--sizes", "784,3.7,10"): "expected comma-separated integers",
}


@pytest.mark.parametrize("option", BAD_OPTIONS, ids="=".join)
def test_bad_options_are_refused_by_the_parser(train_numpy, capsys, option):
    with pytest.raises(SystemExit) as exit_info:
        train_numpy.main(list(option))
    assert exit_info.value.code == 2
    one_error(capsys.readouterr().err, BAD_OPTIONS[option])


@pytest.mark.parametrize("args, message", [
    (["--sizes", "100,10"], "--sizes starts with 100 inputs, but mnist images have 784 pixels"),
    (["--sizes", "784,128,5"], "--sizes ends with 5 outputs, but mnist has 10 classes"),
    (["--model", "cnn", "--sizes", "784,5"], "--sizes ends with 5 outputs, but mnist has 10 classes"),
    (["--sizes", "784,200000000,10"], "needs about"),
    (["--model", "cnn", "--hidden", "0"], "--hidden: expected a positive integer, got 0"),
    (["--model", "cnn", "--dropout", "1.5"], "--dropout: expected a probability in [0, 1), got 1.5"),
    (["--model", "cnn", "--dropout", "nan"], "--dropout: expected a probability in [0, 1), got nan"),
], ids=["inputs", "classes", "cnn-classes", "absurd", "hidden", "dropout", "dropout-nan"])
def test_a_model_that_cannot_fit_the_data_is_refused_before_loading_it(train_numpy, tmp_path, capsys, args, message):
    assert train_numpy.main(["--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "run"), *args]) == 2
    one_error(capsys.readouterr().err, message)
    assert not (tmp_path / "run").exists()


def test_bad_output_paths_are_refused_before_training(train_numpy, tiny_data_dir, tmp_path, capsys):
    (tmp_path / "plain").write_text("a file")
    (tmp_path / "clash" / "model.npz").mkdir(parents=True)
    for out, reason in ((tmp_path / "plain", "plain: is a file; expected a folder"),
                        (tmp_path / "clash", "model.npz: is a folder; expected a file name"),
                        ("/proc/self/run", "cannot write in /proc")):
        assert train_numpy.main(["--data-dir", str(tiny_data_dir), "--out", str(out), "--dry-run"]) == 2
        captured = capsys.readouterr()
        one_error(captured.err, reason)
        assert "epoch" not in captured.out, "it trained before checking where to write"


def test_a_second_run_into_the_same_folder_is_refused(train_numpy, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    with lock_folder(out):  # what a first run holds while it trains
        assert train_numpy.main(["--data-dir", str(tiny_data_dir), "--out", str(out), "--dry-run"]) == 2
    one_error(capsys.readouterr().err, "another run", "is writing here")
    assert not (out / "model.npz").exists()


def test_outputs_get_the_umask_mode(tiny_data_dir, tmp_path):
    saved = os.umask(0o022)  # the script's process inherits it
    try:
        proc = helpers.run("scripts/train_numpy.py", "--dry-run", "--data-dir", tiny_data_dir, "--out",
                           tmp_path / "run", cwd=tmp_path)
    finally:
        os.umask(saved)
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir() if not p.name.startswith(".")} == {
        "model.npz": 0o644, "history.json": 0o644, "history.png": 0o644}
