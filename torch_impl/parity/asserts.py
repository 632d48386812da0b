"""assert_grads and assert_parity: the two checks as assertions for a user's own pytest suite."""

from __future__ import annotations

from .compare import compare
from .grads import check_grads
from .report import Report


def assert_grads(forward, arrays: dict, grads, **options) -> Report:
    """check_grads, raising AssertionError with the report's table when a gradient disagrees; returns the report."""
    __tracebackhide__ = True  # pytest shows the message, not this frame
    report = check_grads(forward, arrays, grads, **options)
    if not report.ok:
        raise AssertionError(f"hand-written gradients disagree with the {report.reference} reference:\n{report}")
    return report


def assert_parity(scratch_module, torch_module, *inputs, **options) -> Report:
    """compare, raising AssertionError with the report's table when a tensor disagrees; returns the report."""
    __tracebackhide__ = True
    report = compare(scratch_module, torch_module, *inputs, **options)
    if not report.ok:
        raise AssertionError(f"the scratch module disagrees with its torch twin:\n{report}")
    return report
