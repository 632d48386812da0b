"""scripts/train_numpy.py: the dry run CI uses, what a run writes, and its errors."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
    assert "--epochs must be >= 1" in capsys.readouterr().err
