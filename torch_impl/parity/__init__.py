"""The checker: hand-written gradients against autograd (check_grads), a scratch module against its torch twin
(compare), one step or a whole trajectory."""

from .asserts import assert_grads, assert_parity
from .compare import LOSSES, compare, exact_device, loss_pair, share_dropout_masks, torch_target
from .grads import check_grads
from .report import NON_FINITE, STEP_RTOL, TRAJECTORY_RTOL, Report, Row, as_numpy, diff, tolerance

__all__ = [
    "LOSSES",
    "NON_FINITE",
    "STEP_RTOL",
    "TRAJECTORY_RTOL",
    "Report",
    "Row",
    "as_numpy",
    "assert_grads",
    "assert_parity",
    "check_grads",
    "compare",
    "diff",
    "exact_device",
    "loss_pair",
    "share_dropout_masks",
    "tolerance",
    "torch_target",
]
