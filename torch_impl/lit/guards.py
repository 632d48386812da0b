"""Guards around a Lightning run: options checked before any work, one folder per run, a diverged run stopped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from scratch.args import COUNT, NON_NEGATIVE, POSITIVE_INT, PROBABILITY, RATE, check_model_options
from scratch.budget import check_memory
from scratch.data import DATASETS, TRAIN_SIZE, check_model_fits
from scratch.io import check_folder

from ..interop import WeightsFileError, load_checkpoint

VERSION_ENV = "MLP_PARITY_RUN_VERSION"  # rank 0 tells the DDP processes it launches which version_N it reserved


class RunDiverged(ArithmeticError):
    """A loss became NaN or infinite: the run stops before it checkpoints or reports anything of that epoch."""


def check_config(config) -> None:
    """The values LitClassifier, the DataModule and the Trainer would trip over only later, named as on the
    command line; then memory and the output folder. Raises ValueError (or a subclass) with one message."""
    model, data = config.model, config.data
    spec, prefix = model.spec, "--model.spec."
    RATE.check("--model.lr", model.lr)
    NON_NEGATIVE.check("--model.weight_decay", model.weight_decay)
    PROBABILITY.check("--model.label_smoothing", model.label_smoothing)
    check_model_options(spec, prefix)
    POSITIVE_INT.check("--data.batch_size", data.batch_size)
    POSITIVE_INT.check("--data.val_size", data.val_size)
    COUNT.check("--data.num_workers", data.num_workers)
    if data.dataset in DATASETS and len(spec.sizes) >= 2:  # else LitClassifier and the DataModule say what is wrong
        check_model_fits(data.dataset, list(spec.sizes), spec.model, f"{prefix}sizes")
    shape = "-".join(map(str, spec.sizes)) if spec.model == "mlp" else f"cnn {list(spec.channels)}"
    check_memory(f"{shape} at batch {data.batch_size}", spec.model, list(spec.sizes),
                 min(data.batch_size, TRAIN_SIZE), "float32", list(spec.channels), spec.hidden)
    check_folder(config.trainer.default_root_dir or ".")


def check_resumable(path: str, backbone: torch.nn.Module) -> None:
    """A --ckpt_path that loads safely (weights_only) and whose weights fit this model, before fit() reads it."""
    state, _ = load_checkpoint(path)
    want = {key: tuple(value.shape) for key, value in backbone.state_dict().items()}
    problems = [f"'{key}' has shape {state[key].shape}, the model expects {shape}"
                for key, shape in want.items() if key in state and state[key].shape != shape]
    problems += [f"missing '{key}'" for key in want if key not in state]
    problems += [f"unexpected '{key}'" for key in state if key not in want]
    if problems:
        raise WeightsFileError(f"{path}: its weights do not fit this model ({'; '.join(problems[:3])}); resume with "
                               "the --model settings of the run that saved it")


def reserve_version(folder: Path) -> int:
    """Create the next free version_N under `folder` and return N; mkdir is atomic, so two runs never share one."""
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[8:]) for p in folder.glob("version_*") if p.name[8:].isdigit()]
    version = max(taken, default=-1) + 1
    while True:
        try:
            (folder / f"version_{version}").mkdir()
            return version
        except FileExistsError:
            version += 1


def run_version(folder: Path) -> tuple[int, bool]:
    """(N of this run's version_N, whether this process reserved it): rank 0 reserves, the processes it launches
    for DDP (LOCAL_RANK > 0) take the same N from the environment it hands down."""
    if int(os.environ.get("LOCAL_RANK", "0")) > 0 and VERSION_ENV in os.environ:
        return int(os.environ[VERSION_ENV]), False
    version = reserve_version(folder)
    os.environ[VERSION_ENV] = str(version)
    return version, True


def discard_unfinished(run_dir: Path) -> None:
    """Remove a failed run's folder unless it holds a checkpoint worth keeping (from an earlier, finite epoch)."""
    if run_dir.is_dir() and not any(run_dir.glob("checkpoints/*.ckpt")):
        shutil.rmtree(run_dir, ignore_errors=True)


class StopOnNonFinite(Callback):
    """Raise RunDiverged when an epoch's train or val loss is NaN or infinite; checkpoint callbacks run after this
    one (Lightning orders them last), so no checkpoint of a diverged epoch is ever written."""

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._check(trainer, "val_loss")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer, "train_loss")

    @staticmethod
    def _check(trainer: Trainer, key: str) -> None:
        value = trainer.callback_metrics.get(key)
        if value is not None and not torch.isfinite(value).all():
            raise RunDiverged(f"{key} became {float(value)} in epoch {trainer.current_epoch}")
