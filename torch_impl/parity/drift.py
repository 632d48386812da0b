"""Torch against itself: how far rounding alone moves a float32 run, the yardstick for long float32 trajectories.

A long float32 run is not always well conditioned: one hidden input rounded to the other side of zero by a ReLU,
or Adam dividing a tiny gradient by its own tiny running size, sets the weights drifting apart, torch's from torch's
too. Where torch drifts from itself by more than the tolerance table allows, scratch is held to DRIFT_FACTOR times
torch's own drift instead; where it drifts less, the table holds.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scratch.optim import preset_settings

from .compare import torch_target
from .report import diff
from .trajectory import OPTIMIZERS

# scratch and torch round independently, so they may differ by about twice what one rounding moves: 3x leaves room
DRIFT_FACTOR = 3


@dataclass
class Drift:
    """How far torch drifts from itself when only its rounding changes (normwise, worst tensor)."""

    param_diff: float  # weights and buffers after the run
    state_diff: float  # optimizer state after the run
    agreement: float = 1.0  # fraction of identical test predictions
    accuracy_gap: float = 0.0  # |accuracy difference|, a fraction


def drift_bound(table_rtol: float, drift: float) -> float:
    """The table's bound, or DRIFT_FACTOR times torch's own drift where that is larger."""
    return max(table_rtol, DRIFT_FACTOR * drift)


def _worst(pairs) -> float:
    """The worst normwise difference over (name, tensor, reference tensor) triples, compared in float64."""
    rows = [diff(name, a.double(), b.double(), math.inf) for name, a, b in pairs]
    return max((row.max_rel for row in rows), default=0.0)


def state_drift(model: nn.Module, optimizer: torch.optim.Optimizer, reference: nn.Module,
                ref_optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    """(weights and buffers, optimizer state): the worst normwise difference of a torch run from a reference run."""
    ref_state = reference.state_dict()
    weights = _worst((name, value, ref_state[name]) for name, value in model.state_dict().items())
    states, ref_states = optimizer.state_dict()["state"], ref_optimizer.state_dict()["state"]
    state = _worst((f"{i}.{key}", value, ref_states[i][key]) for i, s in states.items() for key, value in s.items()
                   if key != "step")  # the step count is an integer either way
    return weights, state


def torch_self_drift(model: nn.Module, optimizer_name: str, lr: float | None, train, test,
                     order: list[np.ndarray]) -> Drift:
    """Train three copies of a float32 torch model on the same batches: as they come, with each batch's rows reversed,
    and in float64. The weights and optimizer state drift by the worst of the two float32 runs against each other
    and against float64; the predictions are those of the two float32 runs."""
    (x, y), (x_test, y_test) = train, test
    other = copy.deepcopy(model)
    reference = Float64Reference(model, nn.CrossEntropyLoss(), optimizer_name, lr)
    optimizers = []
    for net, reverse in ((model, False), (other, True)):
        optimizer = OPTIMIZERS[optimizer_name][1](net.parameters(), **preset_settings(optimizer_name, lr))
        for idx in order:
            rows = idx[::-1] if reverse else idx
            loss = F.cross_entropy(net(torch.from_numpy(x[rows])), torch.from_numpy(y[rows]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        optimizers.append(optimizer)
    for idx in order:
        reference.step(x[idx], y[idx])
    reordered = state_drift(model, optimizers[0], other, optimizers[1])
    rounded = state_drift(model, optimizers[0], reference.model, reference.optimizer)
    with torch.no_grad():
        preds = [net.eval()(torch.from_numpy(x_test)).argmax(dim=1).numpy() for net in (model, other)]
    correct = [int(np.sum(p == y_test)) for p in preds]
    return Drift(max(reordered[0], rounded[0]), max(reordered[1], rounded[1]), float(np.mean(preds[0] == preds[1])),
                 abs(correct[0] - correct[1]) / len(y_test))


class Float64Reference:
    """A float64 copy of a torch model, trained beside it on the same batches with the same optimizer preset."""

    def __init__(self, torch_model: nn.Module, loss_fn: nn.Module, optimizer: str, lr: float | None):
        self.model = copy.deepcopy(torch_model).to(torch.float64)
        self.loss_fn = loss_fn
        self.optimizer = OPTIMIZERS[optimizer][1](self.model.parameters(), **preset_settings(optimizer, lr))
        self.device = next(self.model.parameters()).device

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step on the batch in float64; returns the loss."""
        t_x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).to(self.device)
        t_y = torch_target(y, self.device)
        loss = self.loss_fn(self.model(t_x), t_y.double() if t_y.is_floating_point() else t_y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()
