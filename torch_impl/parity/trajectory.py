"""Train a scratch model and its torch twin step by step on the same batches, and compare where they end up."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import scratch
from scratch import optim as soptim

from ..convert import copy_into_torch
from .compare import loss_pair, share_dropout_masks, torch_target
from .report import Report, Row, diff

# name -> (scratch optimizer, torch optimizer, fixed settings), from the presets in scratch.optim
_TORCH_TWINS = {soptim.SGD: torch.optim.SGD, soptim.Adam: torch.optim.Adam, soptim.AdamW: torch.optim.AdamW}
OPTIMIZERS = {name: (cls, _TORCH_TWINS[cls], fixed) for name, (cls, fixed) in soptim.PRESETS.items()}


class NonFiniteLoss(ArithmeticError):
    """A loss became NaN or inf: a comparison past that point means nothing."""


def optimizer_rows(optimizer, torch_optimizer, names: list[str], rtol: float, atol: float = 0.0) -> list[Row]:
    """Every optimizer state tensor (momentum buffers, exp_avg, ..., step), scratch against torch."""
    rows = []
    states, t_states = optimizer.state_dict()["state"], torch_optimizer.state_dict()["state"]
    for index in sorted(set(states) | set(t_states)):
        state, t_state = states.get(index, {}), t_states.get(index, {})
        for key in sorted(set(state) | set(t_state)):
            name = f"{names[index]}.{key}"
            if key not in state or key not in t_state:
                side = "scratch" if key not in state else "torch"
                rows.append(Row(name, (), "-", np.inf, np.inf, False, f"{side} optimizer has no such state"))
            elif key == "step":  # a Python float in scratch, a float32 tensor in torch
                rows.append(diff(name, np.float64(state[key]), np.float64(float(t_state[key])), rtol, atol))
            else:
                rows.append(diff(name, state[key], t_state[key], rtol, atol))
    return rows


class Twins:
    """A scratch model and its torch twin with the same weights, the same loss and the same optimizer."""

    def __init__(self, scratch_model: scratch.Module, torch_model: nn.Module, loss="cross_entropy",
                 optimizer: str = "adam", lr: float | None = None, weight_decay: float = 0.0,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model, self.torch_model = scratch_model, torch_model.to(self.device)
        copy_into_torch(scratch_model.state_dict(), torch_model)
        self.loss_fn, self.torch_loss_fn = loss_pair(loss)
        settings = soptim.preset_settings(optimizer, lr, weight_decay)
        self.optimizer = soptim.make(optimizer, scratch_model.parameters(), lr, weight_decay)
        self.torch_optimizer = OPTIMIZERS[optimizer][1](torch_model.parameters(), **settings)
        self.steps = 0
        share_dropout_masks(scratch_model, self.torch_model)  # the torch step runs first, see step()

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """One training step on both sides with the same batch; returns (scratch loss, torch loss)."""
        t_x = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        t_loss = self.torch_loss_fn(self.torch_model(t_x), torch_target(y, self.device))
        self.torch_optimizer.zero_grad()
        t_loss.backward()
        self.torch_optimizer.step()

        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported below, once
            logits = self.model(x)
            loss = self.loss_fn(logits, y)
            self.optimizer.zero_grad()
            dlogits = self.loss_fn.backward()
            if isinstance(self.model, scratch.nn.Sequential):
                self.model.backward(dlogits, input_grad=False)  # the data needs no gradient: skip it, as torch
            else:
                self.model.backward(dlogits)
            self.optimizer.step()

        self.steps += 1
        values = float(loss), t_loss.item()
        if not all(math.isfinite(v) for v in values):
            raise NonFiniteLoss(
                f"the loss became {values[0]} (scratch) / {values[1]} (torch) at step {self.steps}; "
                "the run diverged: lower the learning rate"
            )
        return values

    def state_report(self, rtol: float, atol: float = 0.0) -> Report:
        """Every parameter, buffer and optimizer state tensor, scratch against torch."""
        report = Report(rtol=rtol, atol=atol)
        t_state = self.torch_model.state_dict()
        for name, value in self.model.state_dict().items():  # parameters and buffers (running statistics)
            report.rows.append(diff(name, value, t_state[name], rtol, atol))
        names = [name for name, _ in self.model.named_parameters()]
        report.rows += optimizer_rows(self.optimizer, self.torch_optimizer, names, rtol, atol)
        return report

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """Class predictions of both models (eval mode, no gradients), in batches."""
        self.model.eval()
        self.torch_model.eval()
        preds, t_preds = [], []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                chunk = x[i : i + batch_size]
                preds.append(self.model(chunk).argmax(axis=1))
                t_chunk = torch.from_numpy(np.ascontiguousarray(chunk)).to(self.device)
                t_preds.append(self.torch_model(t_chunk).argmax(dim=1).cpu().numpy())
        self.model.train()
        self.torch_model.train()
        return np.concatenate(preds), np.concatenate(t_preds)
