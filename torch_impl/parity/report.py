"""The parity report: the tolerance table, one row per compared tensor, and the one comparison helper `diff`."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

# Normwise tolerances, max|a - b| <= atol + rtol * max|b|, per dtype (the README's table).
STEP_RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}  # one forward + backward
TRAJECTORY_RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}  # after 100 optimizer steps

NON_FINITE = "NaN or inf present"
BOTH_ZERO = "both ~ 0"


_CAPTURED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("captured_references", default=None)


@contextlib.contextmanager
def capture_references():
    """Collect, by row name, the reference array of every `diff` made inside the block (the rounding yardstick)."""
    captured = {}
    token = _CAPTURED.set(captured)
    try:
        yield captured
    finally:
        _CAPTURED.reset(token)


def tolerance(table: dict, dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype not in table:
        raise TypeError(f"parity is defined for float32 and float64, got {dtype}")
    return table[dtype]


def as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if hasattr(value, "tensor") and isinstance(value.tensor, torch.Tensor):  # a torch._numpy array
        return value.tensor.detach().cpu().numpy()
    return np.asarray(value)


@dataclass
class Row:
    """One compared tensor: `max_rel` is normwise, max|a - b| / max|b|; `worst` indexes the largest |a - b|."""

    name: str
    shape: tuple
    dtype: str
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""
    mismatched: int = 0  # elements with |a - b| > atol + rtol * max|b|
    size: int = 0
    worst: tuple = ()
    actual: float = float("nan")  # the hand-written (scratch) value at `worst`
    expected: float = float("nan")  # the reference (torch) value there
    factor: float | None = None  # hand-written = factor x reference, when the two differ by a constant factor
    max_actual: float = 0.0
    max_expected: float = 0.0
    grad: bool = False  # a gradient: judged against the report's gradient scale when both sides are ~ 0
    rounding: float | None = None  # float32: torch's own rounding of this tensor, normwise, where it was measured
    error: np.ndarray | None = field(default=None, repr=False, compare=False)  # |a - b| of a failing row, for plots

    @property
    def result(self) -> str:
        if self.ok:
            return f"ok ({self.note})" if self.note else "ok"
        return f"FAIL ({self.note})" if self.note else "FAIL"


def _failed(name: str, a: np.ndarray, note: str, grad: bool) -> Row:
    return Row(name, a.shape, str(a.dtype), np.inf, np.inf, False, note, a.size, a.size, grad=grad)


def diff(name: str, actual, expected, rtol: float, atol: float = 0.0, *, grad: bool = False) -> Row:
    """The one comparison helper: shape and dtype first, then values (NaN or inf never pass)."""
    a, b = as_numpy(actual), as_numpy(expected)
    captured = _CAPTURED.get()
    if captured is not None:
        captured[name] = b
    if a.shape != b.shape:
        return _failed(name, a, f"shape {a.shape} != expected {b.shape}", grad)
    if a.dtype != b.dtype:
        return _failed(name, a, f"dtype {a.dtype} != expected {b.dtype}", grad)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        row = _failed(name, a, NON_FINITE, grad)
        row.max_abs = row.max_rel = np.nan
        return row
    if a.dtype.kind != "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
    error = np.abs(a - b)  # in the arrays' own dtype: |a - b| of two close floats is exact
    worst = np.unravel_index(int(np.argmax(error)), a.shape) if a.size else ()
    max_abs = float(error[worst]) if a.size else 0.0
    scale, max_actual = _max_abs(b), _max_abs(a)
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    bound = atol + rtol * scale
    row = Row(name, a.shape, str(a.dtype), max_abs, max_rel, max_abs <= bound, size=a.size, max_actual=max_actual,
              max_expected=scale, grad=grad)
    if a.size:
        row.worst = tuple(int(i) for i in worst)
        row.actual, row.expected = float(a[worst]), float(b[worst])
    if not row.ok:
        row.mismatched = int(np.count_nonzero(error > bound))
        row.factor = _constant_factor(a.astype(np.float64), b.astype(np.float64), rtol)
        row.error = error
    return row


def _max_abs(x: np.ndarray) -> float:
    return float(max(x.max(), -x.min())) if x.size else 0.0


def _constant_factor(a: np.ndarray, b: np.ndarray, rtol: float) -> float | None:
    """k when a = k * b to within 100 * rtol (the most common bug: a missing 1/N, 2 or sign), else None."""
    if np.count_nonzero(b) < 2:
        return None
    k = float(np.sum(a * b) / np.sum(b * b))
    tol = max(100 * rtol, 1e-10)
    if np.max(np.abs(a - k * b)) > tol * abs(k) * np.max(np.abs(b)) or abs(k - 1) < tol:
        return None
    return k


def _format_factor(k: float) -> str:
    if k == 0:
        return "hand-written is all 0"
    return f"hand-written = {k:.4g} x reference" + (f" (1/{1 / k:.4g})" if abs(k) < 1 else "")


@dataclass
class Report:
    """Rows in forward order (output, loss) then backward order (last layer's gradients first, input last)."""

    rows: list[Row] = field(default_factory=list)
    rtol: float = 0.0
    atol: float = 0.0
    not_checked: list[str] = field(default_factory=list)  # "name (why)" for tensors given no hand-written gradient
    reference: str = ""  # what the hand-written side was compared against
    yardstick: str = ""  # float32: how rows beyond the table were judged against torch's own rounding (rounding.py)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def first_failure(self) -> Row | None:
        return next((row for row in self.rows if not row.ok), None)

    @property
    def worst(self) -> Row | None:
        return max(self.rows, key=lambda row: (not np.isfinite(row.max_rel), row.max_rel), default=None)

    @property
    def grad_scale(self) -> float:
        """The largest reference gradient of the report: rounding noise is judged against it."""
        return max((row.max_expected for row in self.rows if row.grad and np.isfinite(row.max_expected)), default=0.0)

    def settle_zeros(self) -> Report:
        """Pass a gradient row where both sides are rounding noise next to the report's gradient scale.

        A gradient whose true value is exactly 0 (a bias feeding batch norm) holds noise on both sides, and a relative
        test divides noise by noise. Both sides within atol + rtol * grad_scale reads "ok (both ~ 0)"; a hand-written
        side above that bound still fails, so a real error is never hidden.
        """
        bound = self.atol + self.rtol * self.grad_scale
        for row in self.rows:
            if row.grad and row.note in ("", BOTH_ZERO) and row.max_actual <= bound and row.max_expected <= bound:
                row.ok, row.note, row.mismatched, row.factor, row.error = True, BOTH_ZERO, 0, None, None
        return self

    def plot(self, path) -> None:
        """Draw |a - b| of the first failing tensor as a heat map (nothing to draw when every tensor agrees)."""
        from .plot import plot_error

        first = self.first_failure
        if first is not None and first.error is not None:
            plot_error(first, path)

    def to_dict(self) -> dict:
        first = self.first_failure
        rows = [{f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "error"}
                for row in self.rows]
        for row in rows:
            row["shape"], row["worst"] = list(row["shape"]), list(row["worst"])
        return {"ok": self.ok, "rtol": self.rtol, "atol": self.atol, "reference": self.reference,
                "first_failure": first.name if first else None, "not_checked": self.not_checked,
                "yardstick": self.yardstick, "rows": rows}

    def __str__(self) -> str:
        width = max([len(row.name) for row in self.rows] + [6])
        header = f"{'tensor':<{width}}  {'shape':<14} {'dtype':<8} {'max abs':>10} {'max rel':>10}  {'mismatched':<14}"
        lines = [f"{header} result"]
        for row in self.rows:
            share = f"{row.mismatched}/{row.size} ({row.mismatched / max(row.size, 1):.0%})" if not row.ok else ""
            lines.append(f"{row.name:<{width}}  {row.shape!s:<14} {row.dtype:<8} "
                         f"{row.max_abs:>10.2e} {row.max_rel:>10.2e}  {share:<14} {row.result}")
            if not row.ok and row.worst and np.isfinite(row.max_abs):
                detail = f"worst at {list(row.worst)}: {row.actual:.6g} hand-written vs {row.expected:.6g} reference"
                factor = "" if row.factor is None else f"; {_format_factor(row.factor)}"
                lines.append(f"{'':<{width}}    {detail}{factor}")
        first = self.first_failure
        verdict = "all tensors agree" if first is None else f"first disagreement: {first.name}"
        lines.append(f"tolerance: max|a-b| <= {self.atol:g} + {self.rtol:g} * max|b|; {verdict}")
        if any(row.note == BOTH_ZERO for row in self.rows):
            lines.append(f"both ~ 0: both sides within {self.atol:g} + {self.rtol:g} * {self.grad_scale:.3g} "
                         "(the largest reference gradient)")
        if self.yardstick:
            lines.append(self.yardstick)
        if self.not_checked:
            lines.append(f"not checked: {', '.join(self.not_checked)}")
        return "\n".join(lines)
