"""`mlp-parity check`: build both twins from one seed, compare one step, then a whole optimizer trajectory."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import scratch
import scratch.nn as snn

from ..convert import to_torch
from .compare import compare
from .drift import DRIFT_FACTOR, Float64Reference, drift_bound, state_drift
from .report import NON_FINITE, STEP_RTOL, TRAJECTORY_RTOL, Report, Row, tolerance
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
    rtol: float | None = None  # None: the tolerance table for the dtype (float32 trajectories: see TrajectoryReport)


@dataclass
class TrajectoryReport(Report):
    """The report after the steps. A float32 run without --rtol is also run in float64 by torch, from the same weights
    on the same batches: where torch's own float32 drift from it (loss, weights or optimizer state) times DRIFT_FACTOR
    exceeds the table, that is the bound."""

    table_rtol: float = 0.0
    torch_drift: float | None = None  # worst normwise difference, torch float32 against torch float64

    def to_dict(self) -> dict:
        return {**super().to_dict(), "table_rtol": self.table_rtol, "torch_drift": self.torch_drift}

    def __str__(self) -> str:
        if self.torch_drift is None:
            return super().__str__()
        verdict = "the table's bound holds" if self.rtol == self.table_rtol else f"{DRIFT_FACTOR}x that is the bound"
        return (f"{super().__str__()}\ntorch float32 against torch float64, same weights and batches: "
                f"{self.torch_drift:.2e} normwise; {verdict}")


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
    rng = np.random.default_rng(config.seed)
    x, y = synthetic_batch(rng, config)
    step_rtol = config.rtol if config.rtol is not None else tolerance(STEP_RTOL, config.dtype)
    step_report = compare(model, torch_model, x, target=y, loss=config.loss, rtol=step_rtol, device=config.device)
    bad = [row.name for row in step_report.rows if row.note == NON_FINITE]
    if bad:
        raise NonFiniteLoss(f"NaN or inf in {', '.join(bad)} on the first batch: check the inputs and the model")

    twins = Twins(model, torch_model, loss=config.loss, optimizer=config.optimizer, lr=config.lr,
                  device=config.device)
    table_rtol = config.rtol if config.rtol is not None else tolerance(TRAJECTORY_RTOL, config.dtype)
    reference = None
    if config.dtype == "float32" and config.rtol is None:
        reference = Float64Reference(twins.torch_model, twins.torch_loss_fn, config.optimizer, config.lr)
    loss_gaps, reference_gaps = [], [0.0]
    for _ in range(config.steps):
        x, y = synthetic_batch(rng, config)
        loss, t_loss = twins.step(x, y)
        loss_gaps.append(_gap(loss, t_loss))
        if reference is not None:
            reference_gaps.append(_gap(t_loss, reference.step(x, y)))
        if progress is not None:
            progress()
    drift = None
    if reference is not None:
        drifts = state_drift(twins.torch_model, twins.torch_optimizer, reference.model, reference.optimizer)
        drift = max(max(reference_gaps), *drifts)
    traj_rtol = table_rtol if drift is None else drift_bound(table_rtol, drift)
    traj_report = TrajectoryReport(twins.state_report(traj_rtol).rows, traj_rtol, table_rtol=table_rtol,
                                   torch_drift=drift)
    worst = max(loss_gaps, default=0.0)
    traj_report.rows.insert(0, Row("loss (worst step)", (), config.dtype, worst, worst, worst <= traj_rtol))
    return step_report, traj_report


def _gap(value: float, reference: float) -> float:
    return abs(value - reference) / max(abs(reference), np.finfo(np.float64).tiny)
