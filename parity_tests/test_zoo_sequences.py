"""The zoo's sequence bugs: the right module passes each check that catches the wrong one, and `compare` names
every output and input of a recurrent layer."""

import numpy as np
import pytest

from torch_impl import to_scratch
from torch_impl.parity import compare
from torch_impl.zoo.recurrent import RECURRENT_BUGS


@pytest.mark.parametrize("bug", RECURRENT_BUGS, ids=lambda bug: bug.name)
def test_the_correct_scratch_module_passes_the_same_check(bug):
    case = bug.make(0)
    correct = to_scratch(case.torch_module)
    correct.load_state_dict(case.scratch_module.state_dict())  # the wrong module's weights, not torch's init
    assert case.run(correct, case.torch_module, *case.inputs, **case.options).ok


@pytest.mark.parametrize("bug", RECURRENT_BUGS, ids=lambda bug: bug.name)
def test_the_wrong_module_really_differs_from_the_right_one(bug):
    """The bug is in the module, not in the inputs: with the same weights the right module's report differs."""
    case = bug.make(0)
    report = case.run(case.scratch_module, case.torch_module, *case.inputs, **case.options)
    row = report.first_failure
    assert row is not None and row.max_rel > 1e-6, f"\n{report}"


def test_every_output_and_input_of_an_lstm_gets_a_row():
    case = next(bug for bug in RECURRENT_BUGS if bug.name == "lstm_no_tanh_prime").make(0)
    correct = to_scratch(case.torch_module)
    report = compare(correct, case.torch_module, *case.inputs, **case.options)
    assert [row.name for row in report.rows] == [  # (output, (h_n, c_n)) and (x, (h_0, c_0)), named by position
        "output[0]", "output[1][0]", "output[1][1]", "bias_hh_l0.grad", "bias_ih_l0.grad", "weight_hh_l0.grad",
        "weight_ih_l0.grad", "input0.grad", "input1[0].grad", "input1[1].grad"]
    assert all(np.isfinite(row.max_abs) for row in report.rows)
