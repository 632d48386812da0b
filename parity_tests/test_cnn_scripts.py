"""The CNN through every entry point on the tiny dataset: Lightning scripts, the NumPy trainer, twin training, interop."""

import json

import numpy as np
import pytest
import torch
from test_lightning import SCRIPTS, finished_run, run_script
from test_train_numpy import run

from torch_impl.cli import main
from torch_impl.interop import scratch_from_checkpoint
from torch_impl.lit import LitClassifier

CNN_CONFIGS = {"train_mnist.py": "mnist_cnn.yaml", "train_classifier.py": "fashion_mnist_cnn.yaml"}
SMALL_CNN = ["--model.channels", "[4, 8]", "--model.hidden", "16"]


@pytest.mark.parametrize("script", sorted(CNN_CONFIGS))
def test_lightning_scripts_train_the_cnn_config_and_numpy_reads_its_checkpoint(script, tiny_data_dir, tmp_path):
    config = str(SCRIPTS / "configs" / CNN_CONFIGS[script])
    _, summary = finished_run(run_script(script, tiny_data_dir, tmp_path / "runs", "-c", config, *SMALL_CNN))
    assert summary["model"] == "cnn" and 0.0 <= summary["test_acc"] <= 1.0
    model = scratch_from_checkpoint(summary["best_ckpt"])
    lit = LitClassifier.load_from_checkpoint(summary["best_ckpt"], map_location="cpu").eval()
    assert lit.hparams.batch_norm and lit.hparams.dropout > 0  # the configs' CNN: batch norm and dropout
    x = np.random.default_rng(0).standard_normal((50, 784)).astype(np.float32)
    with torch.no_grad():
        expected = lit(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(model(x).argmax(axis=1), expected.argmax(axis=1))


def test_numpy_trainer_dry_run_with_the_cnn(tiny_data_dir, tmp_path):
    proc = run("train_numpy.py", "--dry-run", "--model", "cnn", "--channels", "4,8", "--hidden", "16", "--batch-norm",
               "--dropout", "0.2", "--data-dir", str(tiny_data_dir), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["config"]["model"] == "cnn" and len(history["history"]["test_acc"]) == 1


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
    if dtype == "float64":
        assert report["max_param_diff"] <= 1e-9
