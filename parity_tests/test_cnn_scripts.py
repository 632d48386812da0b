"""The CNN through every entry point on the tiny dataset: Lightning scripts, the NumPy trainer, twin training, interop."""

import json

import numpy as np
import pytest
import torch
from helpers import LEARNED, close, finished_run, lightning_run, run

from torch_impl.cli import main
from torch_impl.interop import scratch_from_checkpoint
from torch_impl.lit import LitClassifier
from torch_impl.parity import STEP_RTOL

SMALL_CNN = ["--model.spec.channels", "[4, 8]", "--model.spec.hidden", "16"]
# The configs' one-cycle schedule peaks at 0.003 over the run: one epoch of 8 steps leaves the small CNN near chance.
# Three epochs at 0.01 reach 100% on the tiny dataset (measured), well above LEARNED.
LEARNING = ["--trainer.max_epochs", "3", "--model.lr", "0.01"]


@pytest.mark.parametrize("config", ["mnist_cnn.yaml", "fashion_mnist_cnn.yaml"])
def test_lightning_script_trains_the_cnn_config_and_numpy_reads_its_checkpoint(config, tiny_data_dir, tmp_path):
    _, summary = finished_run(lightning_run(tiny_data_dir, tmp_path / "runs", *SMALL_CNN, *LEARNING, config=config))
    assert summary["model"] == "cnn" and summary["test_acc"] >= LEARNED
    assert summary["dataset"] == config.removesuffix("_cnn.yaml")
    model = scratch_from_checkpoint(summary["best_ckpt"])
    lit = LitClassifier.load_from_checkpoint(summary["best_ckpt"], map_location="cpu").eval()
    assert lit.spec.batch_norm and lit.spec.dropout > 0  # the configs' CNN: batch norm and dropout
    x = np.random.default_rng(0).standard_normal((50, 784)).astype(np.float32)
    with torch.no_grad():
        expected = lit(torch.from_numpy(x)).numpy()
    close("logits", model(x), expected, STEP_RTOL[np.dtype(np.float32)])  # one forward: the table's float32 bound
    assert np.array_equal(model(x).argmax(axis=1), expected.argmax(axis=1))


def test_numpy_trainer_dry_run_with_the_cnn(tiny_data_dir, tmp_path):
    proc = run("scripts/train_numpy.py", "--dry-run", "--model", "cnn", "--channels", "4,8", "--hidden", "16",
               "--batch-norm", "--dropout", "0.2", "--data-dir", tiny_data_dir, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["config"]["model"] == "cnn" and len(history["history"]["test_acc"]) == 1
    with np.load(tmp_path / "run" / "model.npz") as state:  # the model it trained: conv 4 (no bias: batch norm), conv 8
        assert state["1.weight"].shape == (4, 1, 3, 3) and "1.bias" not in state and state["5.weight"].shape[0] == 8


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_twin_training_of_the_cnn(tiny_data_dir, capsys, dtype):
    code = main(["twin", "--model", "cnn", "--channels", "3,4", "--hidden", "12", "--batch-norm", "--dropout", "0.2",
                 "--data-dir", str(tiny_data_dir), "--dtype", dtype, "--epochs", "2", "--batch-size", "20",
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"], report
    assert report["steps"] == 30 and report["agreement"] == 1.0
    names = {row["name"] for row in report["params"]["rows"]}
    assert {"2.running_mean", "2.running_var", "1.weight"} <= names
    # float64: the twin's 1e-9; float32 with dropout has no torch reference, so the table's 1e-4 holds
    assert report["max_param_diff"] <= {"float64": 1e-9, "float32": 1e-4}[dtype]
    assert report["max_state_diff"] <= {"float64": 1e-9, "float32": 1e-4}[dtype]
