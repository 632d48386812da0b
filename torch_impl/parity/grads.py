"""check_grads: hand-written gradients against autograd run on the user's own NumPy forward, in one call."""

from __future__ import annotations

import functools

import numpy as np
import torch

from .autograd import autograd_reference, torch_reference
from .inputs import RANDOM, Leaf, Result, accepted, check_finite, hand_written, leaves_of, result_of, upstream
from .numerical import RTOL, numerical_reference
from .report import STEP_RTOL, Report, as_numpy, diff, tolerance
from .rounding import judge, nudged


def check_grads(forward, arrays: dict, grads, *, dout=None, reference="autograd", rtol: float | None = None,
                atol: float | None = None, seed: int = 0, plot=None) -> Report:
    """Compare hand-written gradients with a reference, one row per tensor.

    `forward(**arrays)` is the user's own function (NumPy, or torch without autograd). It returns a scalar loss, an
    array (its upstream gradient is `dout`, random from a stream of its own by default), or a dict of named
    intermediates holding "loss". `grads` maps names of `arrays` or of intermediates ("dw" may stand for "w") to the
    hand-written gradients; it may be a tuple in arrays order, one bare array, or a callable taking dout and returning
    one of those (called right after the NumPy forward). Integer arrays are data. `reference` is "autograd" (the same
    forward on torch arrays), "numerical" (central differences in float64) or a torch function of the same names.
    Arrays forward does not take as arguments are found, by identity, in the objects it reaches.
    """
    leaves = leaves_of(arrays)
    if not (reference in ("autograd", "numerical") or callable(reference)):
        raise ValueError(f"reference must be 'autograd', 'numerical' or a torch function; got {reference!r}")
    takes = accepted(forward, arrays)
    before = [_copy(leaf.value) for leaf in leaves]
    result = result_of(forward(**{key: arrays[key] for key in takes}))
    changed = [leaf.name for leaf, old in zip(leaves, before) if not _same(leaf.value, old)]
    if changed:
        raise ValueError(f"forward changed its input {', '.join(changed)} in place (x -= ..., x[...] = ...): the "
                         "gradient of what it was given cannot be checked. Work on a copy inside forward "
                         "(x = x - x.mean(0))")
    check_finite(result)
    if result.kind == "array" and dout is None and not callable(grads):
        raise ValueError("forward returns an array, and grads given as values were computed for an upstream gradient "
                         "check_grads cannot know: pass it as dout=..., or give grads as a callable taking dout")
    dout = upstream(result, dout, seed)
    hand = hand_written(grads, dout, leaves, arrays, result)  # now: objects still hold their forward's state
    if reference == "numerical" and set(hand) & set(result.intermediates):
        raise ValueError(f"the numerical reference perturbs arrays only; gradients of intermediates "
                         f"({', '.join(sorted(set(hand) & set(result.intermediates)))}) need reference='autograd' "
                         "or a torch reference")
    name = reference if isinstance(reference, str) else getattr(reference, "__name__", "torch function")
    report = Report(rtol=_rtol(rtol, reference, leaves, result), atol=atol or 0.0, reference=name)
    wanted, kinks = set(hand), {}
    sample = functools.partial(_sample, forward, arrays, leaves, takes, result, dout, wanted, reference)
    if reference == "autograd":
        values, ref = autograd_reference(forward, arrays, leaves, takes, result.kind, dout, wanted)
        _agree(values, result, report.rtol, lambda: forward(**{key: arrays[key] for key in takes}),
               sample if rtol is None else None)
    elif reference == "numerical":
        ref, kinks = numerical_reference(forward, arrays, leaves, takes, result.kind, dout, wanted)
    else:
        values, ref = torch_reference(reference, arrays, leaves, result.kind, dout, wanted)
        name = "loss" if result.kind != "array" else "output"
        report.rows.append(diff(name, as_numpy(result.value), values["value"], report.rtol, report.atol))
    _rows(report, hand, ref, kinks, leaves, result)
    report.settle_zeros()
    if rtol is None and reference != "numerical":
        judge(report, sample)
    if plot is not None and not report.ok:
        report.plot(plot)
    return report


def _rtol(rtol, reference, leaves: list[Leaf], result: Result) -> float:
    """The table's one-step tolerance for the arrays' dtype (float32 if any array is); at least 1e-6 for the
    numerical reference, whose own error on correct code stays near 1e-8."""
    if rtol is not None:
        return rtol
    dtypes = {as_numpy(leaf.value).dtype for leaf in leaves if leaf.differentiable} or {as_numpy(result.value).dtype}
    dtype = np.float32 if np.dtype(np.float32) in dtypes else np.float64
    step = tolerance(STEP_RTOL, dtype)
    return max(step, RTOL) if reference == "numerical" else step


def _sample(forward, arrays: dict, leaves: list[Leaf], takes: set, result: Result, dout, wanted: set, reference,
            scale: float | None, dtype) -> dict:
    """The reference's values and gradients by row name, its arrays nudged by `scale` and cast to `dtype` (the
    samples of torch's own rounding, rounding.py); a value of the forward is keyed "value of 'name'"."""
    cast = functools.partial(nudged, scale=scale, dtype=dtype)
    if reference == "autograd":
        values, grads = autograd_reference(forward, arrays, leaves, takes, result.kind, dout, wanted, cast)
    else:
        values, grads = torch_reference(reference, arrays, leaves, result.kind, dout, wanted, cast)
    value_rows = {("loss" if result.kind != "array" else "output"): values["value"], "value": values["value"]}
    return {**value_rows, **{f"value of '{name}'": v for name, v in values.items() if name != "value"}, **grads}


def _agree(values: dict, result: Result, rtol: float, rerun, sample=None) -> None:
    """The forward on torch arrays must give the NumPy forward's values, or its gradients are of something else
    (in float32, within torch's own rounding where that exceeds rtol: `sample` measures it, see rounding.py)."""
    pairs = [("value", result.value, values["value"])]
    pairs += [(f"value of '{name}'", v, values[name]) for name, v in result.intermediates.items() if name in values]
    for what, numpy_value, torch_value in pairs:
        a, b = as_numpy(numpy_value), as_numpy(torch_value)
        if a.shape == b.shape:
            row = diff(what, b, a.astype(b.dtype), rtol)
            if not row.ok and sample is not None:
                judge(Report([row], rtol), sample)
        if a.shape != b.shape or not row.ok:
            again = as_numpy(result_of(rerun()).value)
            if not np.array_equal(again, as_numpy(result.value)):
                raise ValueError(RANDOM)
            raise ValueError(f"on torch arrays the forward gave a different {what} from NumPy's (shape {b.shape} "
                             f"against {a.shape}; normwise difference {diff(what, b, a, 0).max_rel:.2e}): a NumPy "
                             "call behaves differently in torch._numpy, or a NumPy array or scalar from outside "
                             "forward dropped the graph; use reference='numerical' or a torch reference")


def _rows(report: Report, hand: dict, ref: dict, kinks: dict, leaves: list[Leaf], result: Result) -> None:
    """Intermediates in backward order (the last one computed first), then the arrays in arrays order."""
    for name in reversed(list(result.intermediates)):
        if name in hand:
            report.rows.append(diff(name, hand[name], ref[name], report.rtol, report.atol, grad=True))
        else:
            report.not_checked.append(f"{name} (no hand-written gradient)")
    for leaf in leaves:
        if not leaf.differentiable:
            report.not_checked.append(f"{leaf.name} (integer data)")
        elif leaf.name not in hand:
            report.not_checked.append(f"{leaf.name} (no hand-written gradient)")
        else:
            report.rows.append(_leaf_row(report, leaf, hand[leaf.name], ref[leaf.name], kinks.get(leaf.name)))


def _leaf_row(report: Report, leaf: Leaf, hand: np.ndarray, ref: np.ndarray, kink):
    ref = ref.astype(as_numpy(leaf.value).dtype, copy=False)  # the numerical reference is float64 whatever the array's dtype
    at_kinks = 0
    if kink is not None and kink.any() and hand.shape == ref.shape:
        at_kinks = int(kink.sum())
        ref = np.where(kink, hand.astype(ref.dtype), ref)  # not compared
    row = diff(leaf.name, hand, ref, report.rtol, report.atol, grad=True)
    if at_kinks and not row.note:
        row.note = f"{at_kinks} at non-differentiable points, not compared"
    if not row.ok and not row.note and report.reference == "autograd" and not np.any(ref):
        row.note = "the reference gradient is 0: does forward reach this array through plain NumPy?"
    return row


def _copy(value):
    return value.clone() if isinstance(value, torch.Tensor) else np.array(value)


def _same(value, old) -> bool:
    if isinstance(value, torch.Tensor):
        return torch.equal(value, old)
    return np.array_equal(np.asarray(value), old)
