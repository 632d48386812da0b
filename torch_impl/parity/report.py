"""The parity report: the tolerance table, one row per compared tensor, and the one comparison helper `diff`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

# Normwise tolerances, max|a - b| <= atol + rtol * max|b|, per dtype (the README's table).
STEP_RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}  # one forward + backward
TRAJECTORY_RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}  # after 100 optimizer steps

NON_FINITE = "NaN or inf present"


def tolerance(table: dict, dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype not in table:
        raise TypeError(f"parity is defined for float32 and float64, got {dtype}")
    return table[dtype]


def as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


@dataclass
class Row:
    """One compared tensor: `max_rel` is normwise, max|a - b| / max|b|."""

    name: str
    shape: tuple
    dtype: str
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


def diff(name: str, actual, expected, rtol: float, atol: float = 0.0) -> Row:
    """The one comparison helper: shape and dtype first, then values (NaN or inf never pass)."""
    a, b = as_numpy(actual), as_numpy(expected)
    if a.shape != b.shape:
        return Row(name, a.shape, str(a.dtype), np.inf, np.inf, False, f"shape {a.shape} != expected {b.shape}")
    if a.dtype != b.dtype:
        return Row(name, a.shape, str(a.dtype), np.inf, np.inf, False, f"dtype {a.dtype} != expected {b.dtype}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return Row(name, a.shape, str(a.dtype), np.nan, np.nan, False, NON_FINITE)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    max_abs = float(np.max(np.abs(a64 - b64), initial=0.0))
    scale = float(np.max(np.abs(b64), initial=0.0))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    return Row(name, a.shape, str(a.dtype), max_abs, max_rel, max_abs <= atol + rtol * scale)


@dataclass
class Report:
    """Rows in forward order (output, loss) then backward order (last layer's gradients first, input last)."""

    rows: list[Row] = field(default_factory=list)
    rtol: float = 0.0
    atol: float = 0.0

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def first_failure(self) -> Row | None:
        return next((row for row in self.rows if not row.ok), None)

    @property
    def worst(self) -> Row | None:
        return max(self.rows, key=lambda row: (not np.isfinite(row.max_rel), row.max_rel), default=None)

    def to_dict(self) -> dict:
        first = self.first_failure
        return {
            "ok": self.ok,
            "rtol": self.rtol,
            "atol": self.atol,
            "first_failure": first.name if first else None,
            "rows": [{**asdict(row), "shape": list(row.shape)} for row in self.rows],
        }

    def __str__(self) -> str:
        width = max([len(row.name) for row in self.rows] + [6])
        lines = [f"{'tensor':<{width}}  {'shape':<14} {'dtype':<8} {'max abs':>10} {'max rel':>10}  result"]
        for row in self.rows:
            result = "ok" if row.ok else "FAIL" + (f" ({row.note})" if row.note else "")
            lines.append(
                f"{row.name:<{width}}  {row.shape!s:<14} {row.dtype:<8} "
                f"{row.max_abs:>10.2e} {row.max_rel:>10.2e}  {result}"
            )
        first = self.first_failure
        verdict = "all tensors agree" if first is None else f"first disagreement: {first.name}"
        lines.append(f"tolerance: max|a-b| <= {self.atol:g} + {self.rtol:g} * max|b|; {verdict}")
        return "\n".join(lines)
