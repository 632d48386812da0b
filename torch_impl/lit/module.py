"""LitClassifier: a plain backbone wrapped for Lightning with cross-entropy, an optimizer, a schedule and accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from ..models import build

BACKBONES = ("mlp", "cnn")  # torch_impl.models.build names: flat images (N, 784) -> raw logits (N, classes)
OPTIMIZERS = {
    "sgd": lambda params, lr, wd: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
    "adam": lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
}
SCHEDULERS = (None, "onecycle", "cosine")
STAGES = ("train", "val", "test")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(choices)}")


class LitClassifier(L.LightningModule):
    """Classify flattened images: logits from the backbone, cross-entropy loss, accuracy per stage."""

    def __init__(
        self,
        model: str = "mlp",
        sizes: Sequence[int] = (784, 512, 256, 10),
        activation: str = "relu",
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: str | None = None,
        label_smoothing: float = 0.0,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        """Build the backbone and the metrics.

        Args:
            model: backbone, "mlp" or "cnn" (torch_impl.models.build).
            sizes: MLP layer widths from input to output, e.g. [784, 512, 256, 10]; the last is the number of
                classes (the CNN uses only that one).
            activation: nonlinearity between the linear layers ("relu", "gelu", "tanh", ...).
            optimizer: "sgd" (momentum 0.9, Nesterov), "adam" or "adamw".
            lr: learning rate; the peak rate for the one-cycle schedule.
            weight_decay: weight decay (decoupled for "adamw", L2 in the gradient otherwise).
            scheduler: null for a constant rate, "onecycle" or "cosine"; both step every batch over the whole run.
            label_smoothing: cross-entropy label smoothing in [0, 1).
            channels: CNN only: output channels of each conv block (3x3 conv, ReLU, 2x2 max pool).
            hidden: CNN only: width of the hidden Linear layer.
            batch_norm: CNN only: BatchNorm2d after each convolution.
            dropout: CNN only: dropout probability before each Linear layer.
        """
        super().__init__()
        _check_choice("model", model, BACKBONES)
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        _check_choice("scheduler", scheduler, SCHEDULERS)
        sizes, channels = list(sizes), list(channels)  # saved as plain YAML lists in hparams.yaml, not tuples
        self.save_hyperparameters()
        self.model = build(model, sizes, activation, channels, hidden, batch_norm, dropout)
        accuracy = {f"{stage}_acc": MulticlassAccuracy(int(sizes[-1]), average="micro") for stage in STAGES}
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
        optimizer = OPTIMIZERS[hp.optimizer](self.parameters(), hp.lr, hp.weight_decay)
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
