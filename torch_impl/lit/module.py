"""LitClassifier: a plain backbone wrapped for Lightning with cross-entropy, an optimizer, a schedule and accuracy."""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from scratch.models import ModelSpec
from scratch.optim import PRESETS, preset_settings

from ..models import build
from ..parity.trajectory import OPTIMIZERS

SCHEDULERS = (None, "onecycle", "cosine")
STAGES = ("train", "val", "test")
DEFAULT_SPEC = ModelSpec()  # never modified: LitClassifier reads it


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(choices)}")


class LitClassifier(L.LightningModule):
    """Classify flattened images: logits from the backbone, cross-entropy loss, accuracy per stage."""

    def __init__(
        self,
        spec: ModelSpec = DEFAULT_SPEC,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: str | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        """Build the backbone and the metrics.

        Args:
            spec: the backbone, as torch_impl.models.build reads it: model ("mlp" or "cnn"), the MLP's sizes
                (input first, classes last; the CNN uses only the last) and activation, the CNN's channels, hidden,
                batch_norm and dropout. A checkpoint stores it as a plain dict, which is accepted too.
            optimizer: a preset of scratch.optim.PRESETS, with the same meaning as in mlp-parity and the NumPy
                trainer: "sgd" (plain), "momentum" (0.9), "nesterov" (momentum 0.9, Nesterov), "adam", "adamw".
            lr: learning rate; the peak rate for the one-cycle schedule.
            weight_decay: weight decay (decoupled for "adamw", L2 in the gradient otherwise).
            scheduler: null for a constant rate, "onecycle" or "cosine"; both step every batch over the whole run.
            label_smoothing: cross-entropy label smoothing in [0, 1).
        """
        super().__init__()
        spec = ModelSpec.from_dict(spec) if isinstance(spec, Mapping) else spec
        _check_choice("optimizer", optimizer, PRESETS)
        _check_choice("scheduler", scheduler, SCHEDULERS)
        # plain values only, so that checkpoints load with weights_only=True and hparams.yaml stays plain YAML
        self.save_hyperparameters({"spec": spec.to_dict(), "optimizer": optimizer, "lr": lr,
                                   "weight_decay": weight_decay, "scheduler": scheduler,
                                   "label_smoothing": label_smoothing})
        self.spec = spec
        self.model = build(spec)
        accuracy = {f"{stage}_acc": MulticlassAccuracy(spec.sizes[-1], average="micro") for stage in STAGES}
        self.accuracy = nn.ModuleDict(accuracy)  # one metric per stage, so their running counts never mix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (N, 784) -> (N, classes) logits

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch  # (N, 784) float, (N,) int64
        logits = self(x)  # (N, classes)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy(logits, y)
        metrics = {f"{stage}_loss": loss, f"{stage}_acc": accuracy}
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> OptimizerLRScheduler:
        hp = self.hparams
        settings = {**preset_settings(hp.optimizer, hp.lr), "weight_decay": hp.weight_decay}
        optimizer = OPTIMIZERS[hp.optimizer][1](self.parameters(), **settings)
        if hp.scheduler is None:
            return optimizer
        steps = self.trainer.estimated_stepping_batches
        if hp.scheduler == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp.lr, total_steps=steps)
        else:
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self) -> None:
        """Refuse to stretch a resumed schedule: its length was fixed by the run that saved the checkpoint."""
        steps = self.trainer.estimated_stepping_batches
        for config in self.trainer.lr_scheduler_configs:
            planned = getattr(config.scheduler, "total_steps", None) or config.scheduler.T_max
            if planned != steps:
                raise ValueError(
                    f"the checkpoint's {self.hparams.scheduler} schedule spans {planned} steps, but this run has "
                    f"{steps}; resume with the settings that started it (same --trainer.max_epochs and batch limits)"
                )
