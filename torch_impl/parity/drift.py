"""Torch against itself: how far rounding alone moves a float32 training run, per tensor (the yardstick of rounding.py
for trajectories).

A float32 run is not always well conditioned: Adam dividing a tiny gradient by its own tiny running size, or one
hidden input rounded to the other side of a ReLU's kink, sets the weights drifting apart, torch's from torch's too.
So torch is trained again in float64 from the same weights on the same batches, and each float32 run's distance from
its float64 twin, tensor by tensor, is one sample of torch's own rounding; the samples re-roll the rounding (copies
nudged by rounding.NUDGES, or each batch's rows reversed) and the worst one per tensor is the yardstick.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from scratch.optim import preset_settings

from .compare import torch_target
from .kinks import Kinks, leading
from .rounding import NUDGES, deviation, nudged
from .trajectory import OPTIMIZERS

# The twin's test predictions: NumPy may disagree with torch up to 3 times as often as torch with itself (rows
# reversed), since the two round independently.
DRIFT_FACTOR = 3
LOSS_ROW = "loss (worst step)"  # the trajectory report's first row: the worst step's relative loss gap


@dataclass
class Drift:
    """How far torch drifts from itself when only its rounding changes."""

    param_diff: float  # weights and buffers after the run, worst tensor, normwise
    state_diff: float  # optimizer state after the run, worst tensor, normwise
    agreement: float = 1.0  # fraction of identical test predictions
    accuracy_gap: float = 0.0  # |accuracy difference|, a fraction
    rounding: dict[str, float] = field(default_factory=dict)  # per tensor, worst max|float32 - float64|


def torch_states(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Every weight, buffer and optimizer state tensor, named as the trajectory report's rows ('0.weight.exp_avg')."""
    states = dict(model.state_dict())
    names = [name for name, _ in model.named_parameters()]
    for index, state in optimizer.state_dict()["state"].items():
        states.update({f"{names[index]}.{key}": value for key, value in state.items() if key != "step"})
    return states


def normwise(rounding: dict[str, float], states: dict[str, torch.Tensor], names: Iterable[str]) -> float:
    """The worst rounding / max|reference| over the tensors named."""
    scales = {name: float(states[name].abs().max()) if states[name].numel() else 0.0 for name in names}
    return max((rounding[name] / scale for name, scale in scales.items() if scale > 0 and name in rounding),
               default=0.0)


class TorchRun:
    """A torch copy trained step by step with the optimizer preset: float32 as it is, or cast to float64, its
    weights and every batch's inputs nudged by `scale` (rounding.nudged) first; with `kinks`, its ReLUs record and
    take sides at inputs float32 rounding leaves undecided (kinks.py)."""

    def __init__(self, torch_model: nn.Module, loss_fn: nn.Module, optimizer: str, lr: float | None,
                 dtype: torch.dtype | None = None, scale: float | None = None, kinks: bool = False):
        self.model = copy.deepcopy(torch_model)
        self.kinks = Kinks(self.model) if kinks else None
        self.scale, self.dtype = scale, dtype
        with torch.no_grad():
            for tensor in self.model.state_dict().values():
                if tensor.is_floating_point() and scale is not None:
                    tensor.copy_(torch.from_numpy(nudged(tensor.cpu().numpy(), scale)))
        if dtype is not None:
            self.model.to(dtype)
        self.loss_fn = loss_fn
        self.optimizer = OPTIMIZERS[optimizer][1](self.model.parameters(), **preset_settings(optimizer, lr))
        self.device = next(self.model.parameters()).device

    def step(self, x: np.ndarray, y: np.ndarray, reverse: bool = False) -> float:
        """One training step on the batch (its rows reversed if asked); returns the loss."""
        if reverse:
            x, y = x[::-1], y[::-1]
        x = nudged(np.ascontiguousarray(x), self.scale, None if self.dtype is None else np.float64)
        t_y = torch_target(y, self.device)
        if t_y.is_floating_point() and self.dtype is not None:
            t_y = t_y.to(self.dtype)
        loss = self.loss_fn(self.model(torch.from_numpy(x).to(self.device)), t_y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def states(self) -> dict[str, torch.Tensor]:
        return torch_states(self.model, self.optimizer)


def trajectory_rounding(initial: nn.Module, loss_fn: nn.Module, optimizer: str, lr: float | None,
                        batches: Callable[[], Iterable], first: tuple[dict, list[float], list | None]) -> dict:
    """Per tensor (and LOSS_ROW, relative), the worst deviation of torch float32 from torch float64 trained from
    `initial` on `batches()`: the run as is, whose float32 states, losses and recorded kink sides per step are
    `first` (sides None: no kinks followed), and each NUDGES copy. Each float64 run takes its float32 run's side at
    the kinks rounding leaves undecided."""
    states, losses, sides = first
    rounding: dict[str, float] = {}
    for scale in (None, *NUDGES):
        low, high = (TorchRun(initial, loss_fn, optimizer, lr, dtype, scale, sides is not None)
                     for dtype in (None, torch.float64))
        gaps = []
        for step, (x, y) in enumerate(batches()):
            low_loss = losses[step] if scale is None else low.step(x, y)
            if high.kinks is not None:
                high.kinks.follow = leading(sides[step] if scale is None else low.kinks.recorded)
            high_loss = high.step(x, y)
            gaps.append(abs(low_loss - high_loss) / max(abs(high_loss), np.finfo(np.float64).tiny))
        reference = high.states()
        for name, value in (states if scale is None else low.states()).items():
            rounding[name] = max(rounding.get(name, 0.0), deviation(value.double().cpu(), reference[name].cpu()))
        rounding[LOSS_ROW] = max([rounding.get(LOSS_ROW, 0.0), *gaps])
    return rounding


def torch_self_drift(model: nn.Module, optimizer_name: str, lr: float | None, train, test,
                     order: list[np.ndarray]) -> Drift:
    """Train three copies of a float32 torch model on the same batches: as they come, with each batch's rows reversed,
    and in float64. Each float32 run's distance from float64 is a sample of torch's own rounding, per tensor; the
    predictions are those of the two float32 runs."""
    (x, y), (x_test, y_test) = train, test
    runs = [TorchRun(model, nn.CrossEntropyLoss(), optimizer_name, lr, dtype) for dtype in (None, None, torch.float64)]
    for idx in order:
        for run, reverse in zip(runs, (False, True, False)):
            run.step(x[idx], y[idx], reverse)
    reference = runs[2].states()
    rounding: dict[str, float] = {}
    for run in runs[:2]:
        for name, value in run.states().items():
            rounding[name] = max(rounding.get(name, 0.0), deviation(value.double().cpu(), reference[name].cpu()))
    weights = list(runs[0].model.state_dict())
    with torch.no_grad():
        preds = [run.model.eval()(torch.from_numpy(x_test)).argmax(dim=1).numpy() for run in runs[:2]]
    correct = [int(np.sum(p == y_test)) for p in preds]
    return Drift(normwise(rounding, reference, weights), normwise(rounding, reference, set(reference) - set(weights)),
                 float(np.mean(preds[0] == preds[1])), abs(correct[0] - correct[1]) / len(y_test), rounding)
