"""Torch's own float32 rounding: the yardstick for a float32 row that fails the tolerance table.

Where a float32 tensor is ill-conditioned (a sum that cancels, a gradient near Adam's eps), rounding alone moves it
beyond the table: torch differs from itself as much as from the NumPy side. So torch is run again in float64 on the
same (upcast) weights and inputs, and its float32 result's distance from that is one sample of its own rounding. One
sample is a poor yardstick: a single element often dominates, and its rounding error may happen to be tiny. So the
rounding is re-rolled on copies whose float32 weights and inputs are scaled by 1 + a few units of float32 rounding
(NUDGES): that keeps zeros, signs, order and ties (planted kinks stay kinks) and changes every rounding downstream.
A row that fails the table passes when max|a - b| <= ROUNDING_FACTOR x the worst of these samples, and says so.
"""

from __future__ import annotations

import contextlib
import copy
import math

import numpy as np
import torch

from .report import Report, capture_references

# Scaled copies that re-roll torch's rounding (about 5, 8, 12 and 15 units of float32 rounding), beside the run as is.
NUDGES = (1 + 3e-7, 1 - 5e-7, 1 + 7e-7, 1 - 9e-7)
# Measured on correct code (scripts/rounding_sweep.py): over 3000 ill-conditioned one-step configurations,
# |scratch - torch| reached 5.96x the worst of the five samples (99.9% below 3.58x; against the run as is alone,
# 1431x); over 200 seeds of a one-step Adam trajectory, 4.96x. 10 leaves room.
ROUNDING_FACTOR = 10
WITHIN = "within torch's own float32 rounding"
SAMPLES = f"{len(NUDGES) + 1} samples (the same weights and inputs, and copies scaled by 1 + a few units of rounding)"


def widen(report: Report, rounding: dict[str, float], samples: str = SAMPLES) -> Report:
    """Pass each value-failing row whose max|a - b| is within ROUNDING_FACTOR x torch's own rounding of that tensor
    (`rounding`: row name -> worst max|torch float32 - torch float64|, in the row's max_abs units; `samples` says
    how it was sampled)."""
    widened = False
    for row in report.rows:
        drift = rounding.get(row.name)
        if drift is None or not math.isfinite(drift):
            continue
        row.rounding = drift / row.max_expected if row.max_expected > 0 else drift  # normwise, as max_rel
        if not row.ok and math.isfinite(row.max_abs) and row.max_abs <= ROUNDING_FACTOR * drift:
            row.ok, row.note, row.mismatched, row.factor, row.error = True, f"{WITHIN}: {row.rounding:.1e}", 0, None, None
            widened = True
    if widened:
        report.yardstick = (f"a row beyond the table passes within {ROUNDING_FACTOR} x torch's own float32 rounding: "
                            f"the worst max|torch float32 - torch float64| over {samples}")
    return report


def deviation(low, high) -> float:
    """max|low - high| of a float32 result and its float64 reference, in float64 (inf for a shape mismatch)."""
    a, b = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if a.shape != b.shape:
        return math.inf
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def worst(rounding: dict[str, float], low: dict, high: dict) -> None:
    """Fold one sample (name -> float32 result, name -> float64 reference) into `rounding`, the worst per name."""
    for name, value in low.items():
        if name in high:
            rounding[name] = max(rounding.get(name, 0.0), deviation(value, high[name]))


def nudged(value, scale: float | None, dtype=None):
    """A float array scaled by `scale` in its own dtype (rounded there), then cast to `dtype` (None: kept); integer
    data, None and non-arrays unchanged. Tuples and lists are walked."""
    if isinstance(value, (tuple, list)):
        return type(value)(nudged(v, scale, dtype) for v in value)
    if isinstance(value, torch.Tensor):
        return torch.from_numpy(nudged(value.detach().cpu().numpy(), scale, dtype))
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        return value
    if scale is not None:
        value = value * value.dtype.type(scale)
    return value.astype(dtype or value.dtype)


def scratch_copy(module, dtype=None, scale: float | None = None):
    """A deep copy of a scratch module whose floating parameters and buffers are nudged and cast to `dtype`."""
    module = copy.deepcopy(module)
    for _, owner, attr in module._state_slots():
        value = getattr(owner, attr)
        if hasattr(value, "data"):  # a Parameter
            value.data, value.grad = nudged(value.data, scale, dtype), None
        else:
            setattr(owner, attr, nudged(value, scale, dtype))
    return module


def random_state(device) -> tuple:
    """Torch's random state, to replay a run's dropout masks in its float64 reference."""
    device = torch.device(device)
    on_cuda = device.type == "cuda" and torch.cuda.is_available()  # a missing GPU is compare's error to report
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if on_cuda else None


@contextlib.contextmanager
def replayed(state: tuple, device):
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], device)
        yield


def judge(report: Report, run) -> Report:
    """Judge a float32 report's rows beyond the table against torch's own rounding (nothing to do for float64 or a
    passing report). `run(scale, dtype)` runs torch's side on copies (nudged by `scale`, cast to `dtype`, None: as
    they are) and returns its tensors by row name."""
    if report.ok or not any(row.dtype == "float32" for row in report.rows):
        return report
    try:
        rounding = sampled(run)
    except (RuntimeError, TypeError, ValueError) as error:  # a module that cannot run in float64: the table stands
        report.yardstick = f"torch's own float32 rounding could not be measured: {type(error).__name__}: {error}"
        return report
    return widen(report, rounding)


def sampled(run) -> dict[str, float]:
    """Per name, the worst max|float32 - float64| of `run(scale, dtype)` over the run as is and the NUDGES copies."""
    rounding: dict[str, float] = {}
    for scale in (None, *NUDGES):
        worst(rounding, run(scale, None), run(scale, np.float64))
    return rounding


def within_rounding(report: Report, rerun, modules: tuple, inputs: list, dout, target, loss, state: tuple,
                    device) -> Report:
    """compare's float32 rows beyond the table, judged against torch's own rounding. `rerun(scratch_module,
    torch_module, *inputs, dout=, target=, loss=)` is compare with the caller's other options; each sample runs it on
    copies, collecting torch's tensors by row name."""

    def run(scale, dtype):
        torch_module = copy.deepcopy(modules[1])
        with capture_references() as captured, replayed(state, device):
            rerun(scratch_copy(modules[0], dtype, scale), torch_module if dtype is None else torch_module.double(),
                  *nudged(list(inputs), scale, dtype), dout=nudged(dout, None, dtype),
                  target=nudged(target, None, dtype), loss=_loss_copy(loss, dtype is not None))
        return captured

    return judge(report, run)


def _loss_copy(loss, upcast: bool):
    """A fresh copy of compare's loss argument (a name, a scratch loss or a pair), its torch module in float64."""
    if isinstance(loss, tuple):
        s_loss, t_loss = copy.deepcopy(loss)
        return s_loss, t_loss.double() if upcast and isinstance(t_loss, torch.nn.Module) else t_loss
    return copy.deepcopy(loss)
