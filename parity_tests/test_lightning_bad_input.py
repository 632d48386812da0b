"""The Lightning scripts' bad input: one message and exit 2, no run folder left behind, no diverged result kept, and
two runs started together each in their own folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import ROOT, one_error, run

from torch_impl.lit import LitClassifier
from torch_impl.lit.guards import reserve_version
from torch_impl.lit.run import cli_main

CONFIG = ROOT / "scripts" / "configs" / "mnist.yaml"
TINY = ["--data.batch_size", "32", "--data.val_size", "60", "--trainer.max_epochs", "1", "--data.download", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def refused(capsys, args: list[str], *phrases: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(CONFIG, args)
    assert exit_info.value.code == 2
    return one_error(capsys.readouterr().err, *phrases)


def run_folders(root: Path) -> list[Path]:
    return sorted(root.glob("*/version_*"))


BAD = {
    "activation": (["--model.spec.activation", "bogus"], "unknown activation 'bogus'"),
    "optimizer": (["--model.optimizer", "lion"], "unknown optimizer 'lion'"),
    "scheduler": (["--model.scheduler", "step"], "unknown scheduler 'step'"),
    "dataset": (["--data.dataset", "emnist"], "unknown dataset 'emnist'"),
    "val_size 0": (["--data.val_size", "0"], "--data.val_size: expected a positive integer, got 0"),
    "val_size all": (["--data.val_size", "300"], "val_size must be between 1 and 299"),
    "smoothing": (["--model.label_smoothing", "1.5"], "--model.label_smoothing: expected a probability in [0, 1)"),
    "smoothing nan": (["--model.label_smoothing", "nan"], 'Parser key "model.label_smoothing"'),  # jsonargparse's
    "missing ckpt": (["--ckpt_path", "missing.ckpt"], "missing.ckpt: no such file"),
    "batch_size 0": (["--data.batch_size", "0"], "--data.batch_size: expected a positive integer, got 0"),
    "workers -1": (["--data.num_workers", "-1"], "--data.num_workers: expected an integer >= 0, got -1"),
    "lr nan": (["--model.lr", "nan"], 'Parser key "model.lr"'),
    "lr inf": (["--model.lr", "inf"], 'Parser key "model.lr"'),
    "lr -1": (["--model.lr", "-1"], "--model.lr: expected a finite number > 0, got -1"),
    "weight_decay": (["--model.weight_decay", "-1"], "--model.weight_decay: expected a finite number >= 0, got -1"),
    "inputs": (["--model.spec.sizes", "[100, 10]"], "--model.spec.sizes starts with 100 inputs, but mnist images have 784"),
    "classes": (["--model.spec.sizes", "[784, 16, 5]"], "--model.spec.sizes ends with 5 outputs, but mnist has 10 classes"),
    "absurd": (["--model.spec.sizes", "[784, 100000000, 10]"], "needs about"),
    "hidden": (["--model.spec.model", "cnn", "--model.spec.hidden", "0"], "--model.spec.hidden: expected a positive integer, got 0"),
    "dropout": (["--model.spec.model", "cnn", "--model.spec.dropout", "1.5"], "--model.spec.dropout: expected a probability in"),
    "root in /proc": (["--trainer.default_root_dir", "/proc/self/runs"], "cannot write in /proc"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_options_give_one_message_and_leave_no_run_folder(tiny_data_dir, tmp_path, capsys, case):
    args, message = BAD[case]
    root = tmp_path / "runs"
    refused(capsys, ["--data.data_dir", str(tiny_data_dir), "--trainer.default_root_dir", str(root), *TINY, *args],
            message)
    assert run_folders(root) == []


def test_a_root_dir_that_is_a_file_is_refused(tiny_data_dir, tmp_path, capsys):
    (tmp_path / "runs").write_text("a file")
    refused(capsys, ["--data.data_dir", str(tiny_data_dir), "--trainer.default_root_dir", str(tmp_path / "runs"),
                     *TINY], "runs: is a file; expected a folder")


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for a GPU where none is: this machine has one")
def test_a_gpu_where_there_is_none_is_one_message(tiny_data_dir, tmp_path, capsys):
    refused(capsys, ["--data.data_dir", str(tiny_data_dir), "--trainer.default_root_dir", str(tmp_path / "runs"),
                     *TINY, "--trainer.accelerator", "gpu"], "gpu")
    assert run_folders(tmp_path / "runs") == []


def test_a_diverged_run_exits_2_and_keeps_no_result(tiny_data_dir, tmp_path, capsys):
    root = tmp_path / "runs"
    refused(capsys, ["--data.data_dir", str(tiny_data_dir), "--trainer.default_root_dir", str(root), *TINY,
                     "--model.optimizer", "sgd", "--model.lr", "1e6", "--model.scheduler", "null"],
            "diverged", "lower --model.lr")
    assert not list(root.rglob("summary.json")) and not list(root.rglob("*.ckpt"))
    assert run_folders(root) == []


def test_versions_are_reserved_one_per_run(tmp_path):
    assert [reserve_version(tmp_path / "mnist_mlp") for _ in range(3)] == [0, 1, 2]
    (tmp_path / "mnist_mlp" / "version_7").mkdir()
    assert reserve_version(tmp_path / "mnist_mlp") == 8
    assert sorted(p.name for p in (tmp_path / "mnist_mlp").iterdir()) == [f"version_{n}" for n in (0, 1, 2, 7, 8)]


def test_two_runs_started_together_each_get_their_own_folder(tiny_data_dir, tmp_path):
    root = tmp_path / "runs"
    command = [sys.executable, str(ROOT / "scripts" / "train_mnist.py"), "--data.data_dir", str(tiny_data_dir),
               "--trainer.default_root_dir", str(root), *TINY, "--trainer.fast_dev_run", "1"]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr[-3000:]
    folders = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(folders) == 2 and {Path(f).name for f in folders} == {"version_0", "version_1"}


def test_resume_after_a_kill(tiny_data_dir, tmp_path):
    root = tmp_path / "runs"
    common = ["--data.data_dir", str(tiny_data_dir), "--trainer.default_root_dir", str(root), *TINY[:4],
              "--data.download", "false", "--model.scheduler", "null"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train_mnist.py"), *common,
                             "--trainer.max_epochs", "1000"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = root / "mnist_mlp" / "version_0" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # mid-epoch, likely mid-write of the next checkpoint too
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch = torch.load(last, weights_only=True)["epoch"]  # whole: never truncated under its final name
    resumed = run("scripts/train_mnist.py", *common, "--trainer.max_epochs", str(epoch + 2), "--ckpt_path", last,
                  cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((Path(resumed.stdout.strip().splitlines()[-1]) / "summary.json").read_text())
    assert summary["epochs"] == epoch + 2


def test_a_checkpoint_of_another_model_is_one_message(tiny_data_dir, tmp_path, capsys):
    other = LitClassifier({"sizes": [784, 8, 10]})
    state = {f"model.{key}": value for key, value in other.model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, tmp_path / "small.ckpt")
    root = tmp_path / "runs"
    refused(capsys, ["--data.data_dir", str(tiny_data_dir), "--trainer.default_root_dir", str(root), *TINY,
                     "--ckpt_path", str(tmp_path / "small.ckpt")],
            "small.ckpt: its weights do not fit this model", "'0.weight' has shape (8, 784), the model expects (512, 784)")
    assert run_folders(root) == []
