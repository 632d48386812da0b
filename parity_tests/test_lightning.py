"""The Lightning side: LitClassifier, MNISTDataModule, and scripts/train_mnist.py run end to end through its CLI."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import write_tiny_dataset
from helpers import LEARNED, finished_run, lightning_run, run

from scratch.data import FILES, MissingDataError, default_data_dir, missing_files
from scratch.models import ModelSpec
from scratch.optim import PRESETS, make
from torch_impl.lit import LitClassifier, MNISTDataModule
from torch_impl.parity.trajectory import OPTIMIZERS

SUMMARY_KEYS = {"dataset", "model", "epochs", "global_step", "test_acc", "test_loss", "best_ckpt", "last_ckpt",
                "wall_seconds", "device", "num_devices", "precision", "seed"}
PLOTS = ("curves.png", "confusion.png", "examples.png")


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> tuple[Path, Path, dict]:
    """One epoch of scripts/train_mnist.py on tiny data, constant learning rate: (data dir, run dir, summary)."""
    data_dir = write_tiny_dataset(tmp_path_factory.mktemp("data"))
    root = tmp_path_factory.mktemp("mnist") / "runs"
    run_dir, summary = finished_run(lightning_run(data_dir, root, "--model.scheduler", "null"))
    return data_dir, run_dir, summary


def test_train_mnist_writes_summary_checkpoints_and_plots(mnist_run):
    _, run_dir, summary = mnist_run
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["dataset"] == "mnist" and summary["model"] == "mlp" and summary["device"] == "cpu"
    assert summary["epochs"] == 1 and summary["global_step"] == 8
    assert summary["test_acc"] >= LEARNED and summary["test_loss"] > 0
    assert summary["sizes"] == [784, 512, 256, 10] and summary["activation"] == "relu"  # scripts/configs/mnist.yaml
    assert Path(summary["best_ckpt"]).is_file() and Path(summary["last_ckpt"]).name == "last.ckpt"
    for name in PLOTS:
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"


def test_same_seed_gives_the_same_metrics(mnist_run, tmp_path):
    data_dir, run_dir, summary = mnist_run
    again, summary_again = finished_run(lightning_run(data_dir, tmp_path / "runs", "--model.scheduler", "null"))
    assert (again / "metrics.csv").read_text() == (run_dir / "metrics.csv").read_text()
    assert (summary_again["test_acc"], summary_again["test_loss"]) == (summary["test_acc"], summary["test_loss"])


def test_resume_continues_from_the_saved_epoch(mnist_run):
    data_dir, run_dir, summary = mnist_run
    proc = lightning_run(data_dir, run_dir.parents[1], "--model.scheduler", "null", "--ckpt_path", summary["last_ckpt"],
                         "--trainer.max_epochs", "2")
    resumed, resumed_summary = finished_run(proc)
    assert resumed.name == "version_1"
    assert resumed_summary["epochs"] == 2 and resumed_summary["global_step"] == 2 * summary["global_step"]
    assert resumed_summary["test_acc"] >= LEARNED


def test_fashion_mnist_config_with_dataloaders_and_one_cycle(tiny_data_dir, tmp_path):
    run_dir, summary = finished_run(lightning_run(tiny_data_dir, tmp_path / "runs", "--data.gpu_resident", "false",
                                                  "--data.num_workers", "0", config="fashion_mnist.yaml"))
    assert summary["dataset"] == "fashion_mnist" and summary["global_step"] == 8
    assert summary["test_acc"] >= LEARNED
    assert all((run_dir / name).is_file() for name in PLOTS)


def test_fast_dev_run_smoke(tiny_data_dir, tmp_path):
    run_dir, summary = finished_run(lightning_run(tiny_data_dir, tmp_path / "runs", "--trainer.fast_dev_run", "1"))
    assert summary["best_ckpt"] is None and summary["global_step"] == 1
    assert all((run_dir / name).is_file() for name in PLOTS)


@pytest.mark.parametrize("resident", ["true", "false"])
def test_ddp_on_two_cpu_processes(tiny_data_dir, tmp_path, resident):
    proc = lightning_run(tiny_data_dir, tmp_path / "runs", "--data.gpu_resident", resident, "--trainer.strategy", "ddp",
                         "--trainer.devices", "2", "--trainer.accelerator", "cpu")
    _, summary = finished_run(proc)
    assert summary["num_devices"] == 2
    assert summary["global_step"] == 4  # each rank takes a disjoint half: 120 images, 4 batches of 32
    assert summary["test_acc"] >= LEARNED


def test_missing_data_exits_with_one_message(tmp_path):
    proc = lightning_run(tmp_path / "empty", tmp_path / "runs", "--data.download", "false")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("error: mnist data not found") and proc.stderr.count("error:") == 1
    assert str(tmp_path / "empty" / "MNIST" / "raw") in message
    assert all(name in message for name in FILES["train"] + FILES["test"])


def test_truncated_file_exits_naming_it(tiny_data_dir, tmp_path):
    images = tiny_data_dir / "MNIST" / "raw" / FILES["train"][0]
    images.write_bytes(images.read_bytes()[:-100])
    proc = lightning_run(tiny_data_dir, tmp_path / "runs")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(images) in proc.stderr.strip().splitlines()[-1]


def test_gpu_resident_batches_match_the_dataloader(tiny_data_dir):
    loaders = {}
    for resident in (False, True):
        dm = MNISTDataModule(data_dir=str(tiny_data_dir), batch_size=32, val_size=60, gpu_resident=resident)
        dm.setup("fit")
        dm.setup("test")
        loaders[resident] = dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()
    for plain, resident in zip(loaders[False], loaders[True]):
        assert len(plain) == len(resident)
        plain_labels = torch.cat([y for _, y in plain])
        resident_batches = list(resident)
        x, y = resident_batches[0]
        assert x.shape == (32, 784) and x.dtype == torch.float32 and y.dtype == torch.int64
        resident_labels = torch.cat([y for _, y in resident_batches])
        assert torch.equal(plain_labels.sort().values, resident_labels.sort().values)  # every sample, once
    test = loaders[True][2]
    assert sum(len(y) for _, y in test) == 100  # the last, partial batch is kept
    train = loaders[True][0]
    epoch0 = torch.cat([y for _, y in train])
    train.sampler.set_epoch(1)
    assert not torch.equal(epoch0, torch.cat([y for _, y in train]))  # reshuffled every epoch


def test_gpu_resident_shards_are_disjoint_under_ddp(tiny_data_dir):
    dm = MNISTDataModule(data_dir=str(tiny_data_dir), batch_size=32, val_size=60, gpu_resident=True)
    dm.setup("test")
    shards = []
    for rank in (0, 1):
        dm.trainer = types.SimpleNamespace(global_rank=rank, world_size=2)
        shards.append(list(dm.test_dataloader().sampler))  # this rank's test indices
    assert not set(shards[0]) & set(shards[1]) and sorted(shards[0] + shards[1]) == list(range(100))


def test_prepare_data_reports_the_missing_files_when_download_fails(tmp_path, monkeypatch):
    calls = []

    def no_network(root, download):
        calls.append((root, download))
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(MNIST=no_network, FashionMNIST=no_network))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    with pytest.raises(MissingDataError, match="t10k-labels-idx1-ubyte.*download failed: Error downloading"):
        MNISTDataModule("fashion_mnist", data_dir=str(tmp_path)).prepare_data()
    assert calls == [(str(tmp_path), True)]


def test_lit_classifier_wraps_the_plain_mlp():
    lit = LitClassifier(ModelSpec(sizes=[784, 32, 10]))
    assert list(lit.state_dict()) == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"]
    assert lit(torch.randn(5, 784)).shape == (5, 10)
    assert LitClassifier({"model": "mlp", "sizes": [784, 32, 10]}).spec == lit.spec  # as a checkpoint stores it
    for bad, match in (({"spec": {"model": "resnet"}}, "unknown model 'resnet'.*'mlp'"),
                       ({"optimizer": "lion"}, "unknown optimizer 'lion'.*'adamw'"),
                       ({"scheduler": "step"}, "unknown scheduler 'step'.*'onecycle'")):
        with pytest.raises(ValueError, match=match):
            LitClassifier(**bad)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_optimizer_names_mean_what_they_mean_in_scratch_optim(name):
    # "sgd" is plain SGD everywhere: the torch optimizer Lightning trains with has the scratch preset's settings
    lit = LitClassifier(ModelSpec(sizes=[4, 3]), optimizer=name, lr=0.123, weight_decay=0.01)
    optimizer = lit.configure_optimizers()
    expected = make(name, lit.parameters(), lr=0.123, weight_decay=0.01).param_groups[0]
    assert type(optimizer) is OPTIMIZERS[name][1]
    group = optimizer.param_groups[0]
    assert {key: group[key] for key in expected if key != "params"} == {k: v for k, v in expected.items()
                                                                         if k != "params"}


def test_resuming_one_cycle_with_another_length_is_refused(tiny_data_dir, tmp_path):
    dm = MNISTDataModule(data_dir=str(tiny_data_dir), batch_size=32, val_size=60)
    model = LitClassifier(ModelSpec(sizes=[784, 16, 10]), scheduler="onecycle")
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False, "accelerator": "cpu",
             "default_root_dir": tmp_path}
    trainer = L.Trainer(max_epochs=1, enable_checkpointing=False, **quiet)
    trainer.fit(model, dm)
    trainer.save_checkpoint(tmp_path / "one_epoch.ckpt")
    with pytest.raises(ValueError, match="schedule spans 8 steps, but this run has 16"):
        L.Trainer(max_epochs=2, **quiet).fit(model, dm, ckpt_path=tmp_path / "one_epoch.ckpt")


@pytest.mark.slow
def test_one_epoch_on_real_mnist_reaches_96_percent(tmp_path):
    data_dir = default_data_dir()
    if missing_files("mnist", data_dir):
        pytest.skip(f"MNIST IDX files not found under {data_dir.resolve()}; set MLP_PARITY_DATA to run this test")
    proc = run("scripts/train_mnist.py", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
               "--trainer.enable_progress_bar", "false", "--data.data_dir", str(data_dir.resolve()),
               "--trainer.default_root_dir", str(tmp_path / "runs"), cwd=tmp_path)
    _, summary = finished_run(proc)
    assert summary["test_acc"] >= 0.96, summary


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU for bf16-mixed training on the device")
def test_bf16_mixed_on_the_gpu(tiny_data_dir, tmp_path):
    _, summary = finished_run(lightning_run(tiny_data_dir, tmp_path / "runs", "--trainer.accelerator", "gpu",
                                            "--trainer.precision", "bf16-mixed"))
    assert summary["device"].startswith("cuda") and summary["precision"] == "bf16-mixed"
    assert summary["test_acc"] >= LEARNED


def test_bf16_mixed_precision_flag_on_the_cpu(tiny_data_dir, tmp_path):
    _, summary = finished_run(lightning_run(tiny_data_dir, tmp_path / "runs", "--trainer.accelerator", "cpu",
                                            "--trainer.precision", "bf16-mixed"))
    assert summary["device"] == "cpu" and summary["precision"] == "bf16-mixed"
    assert summary["test_acc"] >= LEARNED
