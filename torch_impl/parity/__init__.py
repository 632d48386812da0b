"""The checker: compare a scratch module with its torch twin, tensor by tensor, one step or a whole trajectory."""

from .compare import LOSSES, compare, exact_device, loss_pair, share_dropout_masks, torch_target
from .report import NON_FINITE, STEP_RTOL, TRAJECTORY_RTOL, Report, Row, as_numpy, diff, tolerance

__all__ = [
    "LOSSES",
    "NON_FINITE",
    "STEP_RTOL",
    "TRAJECTORY_RTOL",
    "Report",
    "Row",
    "as_numpy",
    "compare",
    "diff",
    "exact_device",
    "loss_pair",
    "share_dropout_masks",
    "tolerance",
    "torch_target",
]
