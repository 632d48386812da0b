"""The bug zoo: every deliberate mistake is caught and named, and the inputs that hide it really do hide it."""

import argparse
import json

import numpy as np
import pytest
from torch import nn

import scratch.nn as snn
from torch_impl import to_scratch, zoo
from torch_impl.parity import compare

HIDING = [bug for bug in zoo.BUGS if bug.hidden_by]


@pytest.mark.parametrize("bug", zoo.BUGS, ids=lambda bug: bug.name)
def test_bug_is_caught_and_named_first(bug):
    report = bug.check()
    assert not report.ok, f"{bug.name} went unnoticed:\n{report}"
    assert report.first_failure.name == bug.expected, f"\n{report}"


@pytest.mark.parametrize("bug", HIDING, ids=lambda bug: bug.name)
def test_without_the_catching_input_the_bug_passes_unnoticed(bug):
    report = bug.check(catching=False)
    assert report.ok, f"{bug.name} was expected to hide under {bug.hidden_by}:\n{report}"


@pytest.mark.parametrize("name", ["relu_clipped", "relu_grad_at_zero", "sigmoid_preactivation",
                                  "transposed_weight_grad", "bias_grad_averaged", "softmax_diagonal_only"])
def test_the_correct_scratch_module_passes_the_same_check(name):
    bug = next(bug for bug in zoo.BUGS if bug.name == name)
    case = bug.make(0)
    correct = to_scratch(case.torch_module)  # the twin holds the same weights as the wrong module
    assert compare(correct, case.torch_module, *case.inputs, **case.options).ok


def test_all_ones_upstream_gradient_catches_the_diagonal_softmax_too():
    """The claim that only a random upstream gradient catches s(1 - s) does not hold: all-ones catches it."""
    x = np.random.default_rng(0).standard_normal((4, 5))
    ones = np.ones_like(x)
    report = compare(zoo.DiagonalSoftmax(), nn.Softmax(dim=-1), x, dout=ones, atol=1e-12)
    assert not report.ok and report.first_failure.name == "input.grad"
    assert report.first_failure.max_abs > 0.1  # s(1 - s) against an exact 0


def test_all_ones_upstream_gradient_makes_the_true_softmax_gradient_zero():
    """With all-ones the right answer is 0, so a relative test fails even the correct softmax without an atol."""
    x = np.random.default_rng(0).standard_normal((4, 5))
    ones = np.ones_like(x)
    softmax = snn.Softmax(dim=-1)
    softmax(x)
    assert np.abs(softmax.backward(ones)).max() < 1e-15
    assert not compare(snn.Softmax(dim=-1), nn.Softmax(dim=-1), x, dout=ones).ok
    assert compare(snn.Softmax(dim=-1), nn.Softmax(dim=-1), x, dout=ones, atol=1e-12).ok


@pytest.mark.parametrize("seed", [1, 2])
def test_the_zoo_holds_for_other_seeds(seed):
    assert all(result["as_expected"] for result in zoo.run_zoo(seed))


def run_command(capsys, *argv):
    parser = argparse.ArgumentParser(prog="mlp-parity")
    zoo.add_zoo_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["zoo", *argv])
    code = args.run(args)
    return code, capsys.readouterr().out


def test_zoo_command_prints_the_table_and_passes(capsys):
    code, out = run_command(capsys, "--show", "relu_grad_at_zero")
    assert code == 0 and out.strip().endswith("PASS")
    for bug in zoo.BUGS:
        assert bug.name in out and bug.mistake in out
    assert "planted zeros" in out and "first disagreement: input.grad" in out


def test_zoo_command_json(capsys):
    code, out = run_command(capsys, "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"]
    by_name = {bug["name"]: bug for bug in result["bugs"]}
    assert by_name["grads_not_zeroed"] == {**by_name["grads_not_zeroed"], "caught": True, "hidden": True,
                                           "caught_by": "2 steps", "first_failure": "2.bias.grad"}


def test_zoo_command_exits_one_when_a_bug_is_named_wrongly(capsys, monkeypatch):
    bug = zoo.BUGS[0]
    monkeypatch.setattr(zoo.command, "BUGS", [zoo.Bug(bug.name, bug.mistake, "input.grad", bug.caught_by, bug.make)])
    code, out = run_command(capsys)
    assert code == 1 and "(expected input.grad)" in out and out.strip().endswith("FAIL")
