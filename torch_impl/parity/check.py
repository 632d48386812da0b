"""`mlp-parity check`: build both twins from one seed, compare one step, then a whole optimizer trajectory."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

import scratch
import scratch.nn as snn

from ..convert import to_torch
from .compare import compare
from .drift import LOSS_ROW, torch_states, trajectory_rounding
from .kinks import Kinks, scratch_sides
from .report import NON_FINITE, TRAJECTORY_RTOL, Report, Row, tolerance
from .rounding import widen
from .trajectory import NonFiniteLoss, Twins


@dataclass
class CheckConfig:
    sizes: list[int] = field(default_factory=lambda: [784, 128, 10])  # layer widths, input first
    activation: str = "relu"  # one of scratch.ACTIVATIONS
    loss: str = "cross_entropy"  # cross_entropy | mse | nll | bce
    dtype: str = "float64"  # float64 | float32
    optimizer: str = "adam"  # sgd | momentum | nesterov | adam | adamw
    lr: float | None = None  # None: the optimizer's default in trajectory.DEFAULT_LR
    steps: int = 100  # optimizer steps, a fresh synthetic batch each
    batch_size: int = 32
    seed: int = 0  # seeds the weights and the data
    device: str = "cpu"  # where the torch side runs; 'cuda' switches TF32 off
    rtol: float | None = None  # None: the tolerance table for the dtype (float32: see rounding.py, TrajectoryReport)


@dataclass
class TrajectoryReport(Report):
    """The report after the steps. Where a float32 run without --rtol exceeds the table, torch is trained again in
    float64 from the same weights on the same batches, and nudged copies too (drift.py): a row beyond the table
    passes within ROUNDING_FACTOR x torch's own float32 rounding of that tensor, and says so."""

    table_rtol: float = 0.0
    torch_drift: float | None = None  # worst normwise rounding of torch float32 over the rows, where measured
    kinks_taken: int = 0  # ReLU inputs within float32 rounding of 0 where torch took NumPy's side (kinks.py)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "table_rtol": self.table_rtol, "torch_drift": self.torch_drift,
                "kinks_taken": self.kinks_taken}

    def __str__(self) -> str:
        lines = [super().__str__()]
        if self.torch_drift is not None:
            lines.append(f"torch float32 against torch float64, same weights and batches: {self.torch_drift:.2e} "
                         "normwise at worst")
        if self.kinks_taken:
            lines.append(f"torch took NumPy's side at {self.kinks_taken} ReLU input(s) within float32 rounding of 0")
        return "\n".join(lines)


def build(config: CheckConfig) -> tuple[scratch.Module, object]:
    """Both twins from one seed; for the NLL loss a LogSoftmax closes the model."""
    model = scratch.mlp(config.sizes, config.activation, dtype=np.dtype(config.dtype).type, seed=config.seed)
    if config.loss == "nll":
        model = snn.Sequential(*model.layers, snn.LogSoftmax(dim=1))
    return model, to_torch(model)


def synthetic_batch(rng: np.random.Generator, config: CheckConfig):
    """Inputs straddling zero and targets that fit the loss."""
    n, n_in, n_out = config.batch_size, config.sizes[0], config.sizes[-1]
    x = rng.standard_normal((n, n_in)).astype(config.dtype)
    if config.loss in ("cross_entropy", "nll"):
        y = rng.integers(0, n_out, n)
    elif config.loss == "bce":
        y = rng.integers(0, 2, (n, n_out)).astype(config.dtype)
    else:
        y = rng.standard_normal((n, n_out)).astype(config.dtype)
    return x, y


def run_check(config: CheckConfig, progress=None) -> tuple[Report, Report]:
    """One forward+backward report, then the report after `steps` steps: worst loss gap, weights, optimizer state."""
    model, torch_model = build(config)
    x, y = synthetic_batch(np.random.default_rng(config.seed), config)
    step_report = compare(model, torch_model, x, target=y, loss=config.loss, rtol=config.rtol, device=config.device)
    bad = [row.name for row in step_report.rows if row.note == NON_FINITE]
    if bad:
        raise NonFiniteLoss(f"NaN or inf in {', '.join(bad)} on the first batch: check the inputs and the model")

    twins = Twins(model, torch_model, loss=config.loss, optimizer=config.optimizer, lr=config.lr,
                  device=config.device)
    initial = copy.deepcopy(twins.torch_model)
    rounding_aware = config.dtype == "float32" and config.rtol is None
    kinks = Kinks(twins.torch_model) if rounding_aware else None  # torch takes NumPy's side at undecided kinks
    rtol = config.rtol if config.rtol is not None else tolerance(TRAJECTORY_RTOL, config.dtype)
    loss_gaps, torch_losses, sides = [], [], []
    for x, y in trajectory_batches(config):
        if kinks is not None:
            kinks.follow = scratch_sides(model, x)
        loss, t_loss = twins.step(x, y)
        loss_gaps.append(_gap(loss, t_loss))
        torch_losses.append(t_loss)
        if kinks is not None:
            sides.append(dict(kinks.recorded))
        if progress is not None:
            progress()
    traj_report = TrajectoryReport(twins.state_report(rtol).rows, rtol, table_rtol=rtol,
                                   kinks_taken=kinks.taken if kinks else 0)
    worst = max(loss_gaps, default=0.0)
    traj_report.rows.insert(0, Row(LOSS_ROW, (), config.dtype, worst, worst, worst <= rtol))
    if rounding_aware and not traj_report.ok:  # ill-conditioned: measure torch's own rounding
        first = torch_states(twins.torch_model, twins.torch_optimizer), torch_losses, sides
        rounding = trajectory_rounding(initial, twins.torch_loss_fn, config.optimizer, config.lr,
                                       lambda: trajectory_batches(config), first)
        widen(traj_report, rounding)
        traj_report.torch_drift = max(row.rounding for row in traj_report.rows if row.rounding is not None)
    return step_report, traj_report


def trajectory_batches(config: CheckConfig):
    """The `steps` training batches, drawn after the first batch (the one-step check's) from the seed's stream."""
    rng = np.random.default_rng(config.seed)
    synthetic_batch(rng, config)
    for _ in range(config.steps):
        yield synthetic_batch(rng, config)


def _gap(value: float, reference: float) -> float:
    return abs(value - reference) / max(abs(reference), np.finfo(np.float64).tiny)
