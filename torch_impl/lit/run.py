"""The run the Lightning scripts share: a LightningCLI that fits, tests the best checkpoint, and writes its reports."""

from __future__ import annotations

import csv
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from scratch.data import DatasetError, load, normalize
from scratch.io import save_json
from scratch.plots import plot_confusion, plot_examples, plot_history

from .checkpoint_io import SafeCheckpointIO
from .datamodule import MNISTDataModule
from .guards import RunDiverged, StopOnNonFinite, check_config, check_resumable, discard_unfinished, run_version
from .module import LitClassifier

HISTORY_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


class ClassifierCLI(LightningCLI):
    """LightningCLI without subcommands: `fit_and_test()` does the whole run in one invocation.

    The run directory is <trainer.default_root_dir>/<dataset>_<model>/version_N, the CSV logger's folder: it holds
    metrics.csv, config.yaml, checkpoints/ (best by val_acc, and last), summary.json and the PNG plots. Every option
    is checked before that folder is made; a run that fails before its first checkpoint leaves no folder behind.
    """

    run_dir: Path | None = None  # set once this process has reserved its run folder

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, run=False, auto_configure_optimizers=False, **kwargs)

    def before_instantiate_classes(self) -> None:
        check_config(self.config)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--ckpt_path", type=str | None, default=None,
                            help="resume training from this checkpoint, e.g. <run dir>/checkpoints/last.ckpt")

    def instantiate_trainer(self, **kwargs) -> Trainer:
        root = Path(self.config_init.trainer.default_root_dir or ".")
        name = f"{self.config.data.dataset}_{self.config.model.spec.model}"
        version, reserved = run_version(root / name)  # made now: a second run started at once takes the next N
        self.csv_logger = CSVLogger(root, name=name, version=version)
        if reserved:
            self.run_dir = Path(self.csv_logger.log_dir)
        loggers = [self.csv_logger]
        if importlib.util.find_spec("tensorboard") is not None:
            loggers.append(TensorBoardLogger(root, name=name, version=version, sub_dir="tensorboard"))
        # An explicit folder: with two loggers Lightning would otherwise put checkpoints in <root>/checkpoints.
        self.checkpoint = ModelCheckpoint(
            Path(self.csv_logger.log_dir) / "checkpoints", monitor="val_acc", mode="max", save_last=True
        )
        callbacks = self.config_init.trainer.callbacks or []
        callbacks = [*(callbacks if isinstance(callbacks, list) else [callbacks]), StopOnNonFinite(), self.checkpoint]
        plugins = self.config_init.trainer.plugins or []
        plugins = [*(plugins if isinstance(plugins, list) else [plugins]), SafeCheckpointIO()]
        try:
            return super().instantiate_trainer(logger=loggers, callbacks=callbacks, plugins=plugins, **kwargs)
        except BaseException:
            self.discard_unfinished()
            raise

    def discard_unfinished(self) -> None:
        if self.run_dir is not None:
            discard_unfinished(self.run_dir)

    def fit_and_test(self) -> Path:
        """Fit (resuming from --ckpt_path), test the best checkpoint, write the reports; print the run dir last."""
        start = time.perf_counter()
        if self.config.ckpt_path:
            check_resumable(self.config.ckpt_path, self.model.model)
        self.trainer.fit(self.model, self.datamodule, ckpt_path=self.config.ckpt_path)
        # Read both now: testing from a checkpoint restores this callback's state as it was saved there.
        best = self.checkpoint.best_model_path or None  # none under fast_dev_run: test the weights in memory
        last = self.checkpoint.last_model_path or None
        (results,) = self.trainer.test(self.model, self.datamodule, ckpt_path=best)
        if not all(np.isfinite(value) for value in results.values()):
            raise RunDiverged(f"the test metrics are {results}")
        run_dir = Path(self.csv_logger.log_dir)
        if self.trainer.is_global_zero:
            summary = {
                "dataset": self.datamodule.hparams.dataset,
                **self.model.spec.shape(),  # "model" and the fields that shape it
                "epochs": self.trainer.current_epoch,
                "global_step": self.trainer.global_step,
                "test_acc": results["test_acc"],
                "test_loss": results["test_loss"],
                "best_ckpt": best,
                "last_ckpt": last,
                "wall_seconds": round(time.perf_counter() - start, 2),
                "device": device_name(self.trainer.strategy.root_device),
                "num_devices": self.trainer.world_size,
                "precision": self.trainer.precision,
                "seed": self.config.seed_everything,
            }
            write_reports(run_dir, summary, self.model, self.datamodule)
            print(run_dir)
        return run_dir


def cli_main(config: Path, args: ArgsType = None) -> None:
    """What each training script runs: its YAML defaults, the command line on top, fit then test.

    Bad options, bad data and a diverged run end in one message and exit code 2, not a traceback.
    """
    cli = None
    try:
        cli = ClassifierCLI(LitClassifier, MNISTDataModule, args=args, parser_kwargs={"default_config_files": [config]})
        cli.fit_and_test()
    except (DatasetError, ValueError, MisconfigurationException, RunDiverged) as err:
        message = " ".join(str(err).split())
        if isinstance(err, RunDiverged):
            lr = cli.config.model.lr if cli else "?"
            message = f"training diverged: {message}; lower --model.lr (it was {lr}); no summary was written"
        if cli is not None:
            cli.discard_unfinished()
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except BaseException:
        if cli is not None:
            cli.discard_unfinished()
        raise


def device_name(device: torch.device) -> str:
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


def read_history(metrics_csv: Path) -> dict[str, list[float]]:
    """Per-epoch curves from the CSV logger's metrics.csv (empty when nothing was logged, as under fast_dev_run)."""
    if not metrics_csv.is_file():
        return {}
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows if row.get(key)] for key in HISTORY_KEYS}


@torch.inference_mode()
def predict(model: LightningModule, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes (N,) for inputs (N, ...), in batches on the model's device."""
    model.eval()
    return torch.cat([model(chunk.to(model.device)).argmax(1).cpu() for chunk in x.split(batch_size)]).numpy()


def write_reports(
    run_dir: Path, summary: dict, model: LightningModule, datamodule: MNISTDataModule, n_examples: int = 16
) -> None:
    """summary.json, the curves, the test confusion matrix, and the first test images beside the first mistakes."""
    dataset, names = datamodule.hparams.dataset, datamodule.class_names
    images, labels = load(dataset, "test", datamodule.data_dir)  # (N, 28, 28) uint8, (N,) int64
    pred = predict(model, torch.from_numpy(normalize(images, dataset)))  # (N,)
    confusion = np.bincount(labels * len(names) + pred, minlength=len(names) ** 2).reshape(len(names), len(names))
    mistakes = np.flatnonzero(pred != labels)
    shown = np.concatenate([np.arange(min(n_examples, len(labels))), mistakes[mistakes >= n_examples][:n_examples]])
    save_json(run_dir / "summary.json", summary)
    plot_history(read_history(run_dir / "metrics.csv"), run_dir / "curves.png")
    plot_confusion(confusion, names, run_dir / "confusion.png")
    plot_examples(images[shown], pred[shown], labels[shown], names, run_dir / "examples.png")
