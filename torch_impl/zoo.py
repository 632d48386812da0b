"""The bug zoo: deliberately wrong NumPy backward passes, each caught by the parity checker and named by it.

Every entry pairs a scratch module holding one classic mistake with its correct torch twin, the inputs that
expose the mistake, and the tensor the checker must name first. Some mistakes hide unless the inputs are chosen
well; for those the entry also runs the same check with the inputs that hide it, and that check must pass: the
lesson is what the catching input adds.

On the softmax entries: the elementwise s(1 - s) backward is said to be caught only with a random upstream
gradient, but every nonzero upstream gradient catches it, all-ones included (the two backwards agree only where
dout = 0). What an all-ones upstream gradient, or any gradient constant along the softmax axis, hides is
different: the true input gradient is then exactly 0, so even the right backward differs from torch's only by
rounding (a relative check needs an atol), and a backward that forgets the factor s, dout - sum(dout * s),
returns 0 as well. That mistake is the one caught only with a random upstream gradient.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import scratch
import scratch.nn as snn
from scratch import optim as soptim
from scratch.layers import sigmoid

from .convert import to_torch
from .parity import TRAJECTORY_RTOL, Report, compare, diff
from .trajectory import Twins

DTYPE = np.float64  # tight parity: a wrong backward cannot hide in rounding


# -- the wrong scratch modules ---------------------------------------------------------------------------------
class ClippedReLU(snn.ReLU):
    """Clips the upstream gradient instead of masking it with x > 0."""

    def backward(self, dout):
        self.mask = None
        return np.maximum(dout, 0)


class ReLUPassingZero(snn.ReLU):
    """Lets the gradient through where the input is exactly 0 (torch's ReLU gradient there is 0)."""

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        dx = dout * (self._cached("x") >= 0)
        self.x = None
        return dx


class PreactivationSigmoid(snn.Sigmoid):
    """Takes the sigmoid derivative on the input z, z(1 - z), instead of on the output s, s(1 - s)."""

    def forward(self, x):
        self.x = x
        return sigmoid(x)

    def backward(self, dout):
        z = self._cached("x")
        self.x = None
        return dout * z * (1 - z)


class TransposedGradLinear(snn.Linear):
    """Accumulates x.T @ dout as the weight gradient, the transpose of dout.T @ x: in a square layer the shape fits."""

    def backward(self, dout):
        x = self._cached("x")  # (N, in)
        self.weight.accumulate(x.T @ dout)  # (in, N) @ (N, out) -> (in, out): wrong, unless in == out hides it
        self.bias.accumulate(dout.sum(axis=0))
        self.x = None
        return dout @ self.weight.data


class MeanBiasLinear(snn.Linear):
    """Averages the bias gradient over the batch instead of summing it."""

    def backward(self, dout):
        x = self._cached("x")  # (N, in)
        self.weight.accumulate(dout.T @ x)  # (out, N) @ (N, in) -> (out, in)
        self.bias.accumulate(dout.mean(axis=0))  # (out,): the loss sums over the batch, so must its gradient
        self.x = None
        return dout @ self.weight.data


class PostBiasTanh(scratch.Module):
    """y = tanh(x @ W.T) + b, differentiated with (1 - y**2): the derivative of tanh taken after the bias is added."""

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator):
        self.weight = scratch.Parameter(rng.standard_normal((out_features, in_features)) / np.sqrt(in_features))
        self.bias = scratch.Parameter(rng.standard_normal(out_features))
        self.x = None

    def forward(self, x):
        self.x = x
        self.out = np.tanh(x @ self.weight.data.T) + self.bias.data  # (N, in) @ (in, out) + (out,) -> (N, out)
        return self.out

    def backward(self, dout):
        x, y = self._cached("x"), self.out
        dz = dout * (1 - y**2)  # right only where b == 0: tanh's output is y - b
        self.weight.accumulate(dz.T @ x)  # (out, N) @ (N, in) -> (out, in)
        self.bias.accumulate(dout.sum(axis=0))
        self.x = self.out = None
        return dz @ self.weight.data


class TorchPostBiasTanh(nn.Module):
    """The torch twin of PostBiasTanh's forward, differentiated by autograd."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_features, in_features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=torch.float64))

    def forward(self, x):
        return torch.tanh(x @ self.weight.T) + self.bias


class SummedMSELoss(snn.MSELoss):
    """Mean squared error whose gradient is the sum's, 2 * (pred - target), missing the 1 / N of the mean."""

    def backward(self):
        residual = self._cached("diff")  # pred - target
        self.diff = None
        return 2 * residual


class NoOneHotCrossEntropyLoss(snn.CrossEntropyLoss):
    """Cross-entropy whose gradient is softmax(logits) / N, without subtracting the one-hot target."""

    def backward(self):
        probs = self._cached("probs")
        self.probs = self.q = None
        return probs / len(probs)


class DiagonalSoftmax(snn.Softmax):
    """Softmax backward as the elementwise s(1 - s), ignoring the Jacobian's off-diagonal terms -s_i s_j."""

    def backward(self, dout):
        s = self._cached("out")
        self.out = None
        return dout * s * (1 - s)


class SoftmaxMissingS(snn.Softmax):
    """Softmax backward as dout - sum(dout * s), forgetting the outer factor s."""

    def backward(self, dout):
        s = self._cached("out")
        self.out = None
        return dout - (dout * s).sum(axis=self.dim, keepdims=True)


class ForgetfulSGD(soptim.SGD):
    """SGD in a training loop that forgot zero_grad(): each step's gradient piles onto the last ones."""

    def zero_grad(self) -> None:
        pass


# -- the cases ---------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """What one check runs: `run(scratch_module, torch_module, *inputs, **options)` returns the Report."""

    scratch_module: scratch.Module
    torch_module: nn.Module
    inputs: tuple
    options: dict = field(default_factory=dict)
    run: Callable[..., Report] = compare


@dataclass(frozen=True)
class Bug:
    name: str
    mistake: str  # one line: what the hand-written backward gets wrong
    expected: str  # the tensor the checker must name first
    caught_by: str  # what in the inputs exposes it
    make: Callable[[bool, int], Case]  # (catching, seed) -> the case; catching=False uses the inputs that hide it
    hidden_by: str | None = None  # the inputs under which the mistake passes unnoticed, if any

    def check(self, catching: bool = True, seed: int = 0) -> Report:
        case = self.make(catching, seed)
        return case.run(case.scratch_module, case.torch_module, *case.inputs, **case.options)


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(DTYPE)


def _mlp_with(sizes: list[int], activation: str, index: int, wrong: scratch.Module, seed: int):
    """A seeded scratch mlp with layer `index` swapped for `wrong` (same weights), and the correct torch twin."""
    good = scratch.mlp(sizes, activation, dtype=DTYPE, seed=seed)
    wrong.load_state_dict(good[index].state_dict())
    layers = list(good.layers)
    layers[index] = wrong
    return snn.Sequential(*layers), to_torch(good)


def _relu_clipped(catching, seed):
    model, twin = _mlp_with([6, 5, 3], "relu", 1, ClippedReLU(), seed)
    return Case(model, twin, (_randn(np.random.default_rng(seed), 4, 6),))


def _relu_at_zero(catching, seed):
    rng = np.random.default_rng(seed)
    x = _randn(rng, 8, 10)
    if catching:
        x[rng.random(x.shape) < 0.2] = 0.0
    return Case(ReLUPassingZero(), nn.ReLU(), (x,))


def _bias_after_tanh(catching, seed):
    rng = np.random.default_rng(seed)
    layer = PostBiasTanh(6, 5, rng)
    if not catching:
        layer.bias.data[:] = 0.0
    return Case(layer, TorchPostBiasTanh(6, 5), (_randn(rng, 4, 6),))


def _mse_summed(catching, seed):
    rng = np.random.default_rng(seed)
    sizes, n = ([6, 5, 3], 4) if catching else ([6, 5, 1], 1)
    model = scratch.mlp(sizes, "relu", dtype=DTYPE, seed=seed)
    target = _randn(rng, n, sizes[-1])
    loss = (SummedMSELoss(), nn.MSELoss())
    return Case(model, to_torch(model), (_randn(rng, n, 6),), {"target": target, "loss": loss})


def _ce_no_onehot(catching, seed):
    rng = np.random.default_rng(seed)
    model = scratch.mlp([6, 5, 3], "relu", dtype=DTYPE, seed=seed)
    loss = (NoOneHotCrossEntropyLoss(), nn.CrossEntropyLoss())
    return Case(model, to_torch(model), (_randn(rng, 4, 6),), {"target": rng.integers(0, 3, 4), "loss": loss})


def _sigmoid_preactivation(catching, seed):
    model, twin = _mlp_with([6, 5, 3], "sigmoid", 1, PreactivationSigmoid(), seed)
    return Case(model, twin, (_randn(np.random.default_rng(seed), 4, 6),))


def _transposed_weight_grad(catching, seed):
    model, twin = _mlp_with([5, 5, 3], "relu", 0, TransposedGradLinear(5, 5, dtype=DTYPE, rng=seed), seed)
    return Case(model, twin, (_randn(np.random.default_rng(seed), 4, 5),))


def _bias_grad_averaged(catching, seed):
    model, twin = _mlp_with([6, 5, 3], "relu", 2, MeanBiasLinear(5, 3, dtype=DTYPE, rng=seed), seed)
    return Case(model, twin, (_randn(np.random.default_rng(seed), 4 if catching else 1, 6),))


def steps_without_zero_grad(model: scratch.Module, torch_model: nn.Module, x: np.ndarray, y: np.ndarray,
                            steps: int) -> Report:
    """Train both twins `steps` SGD steps on (x, y), the scratch side with ForgetfulSGD, then compare the
    gradients left from the last step (backward order) and the weights."""
    twins = Twins(model, torch_model, loss="cross_entropy", optimizer="sgd")
    twins.optimizer = ForgetfulSGD(model.parameters(), lr=twins.torch_optimizer.defaults["lr"])
    for _ in range(steps):
        twins.step(x, y)
    rtol = TRAJECTORY_RTOL[np.dtype(DTYPE)]
    report = Report(rtol=rtol)
    t_params = dict(torch_model.named_parameters())
    for name, param in reversed(list(model.named_parameters())):
        report.rows.append(diff(f"{name}.grad", param.grad, t_params[name].grad, rtol))
    report.rows += twins.state_report(rtol).rows
    return report


def _grads_not_zeroed(catching, seed):
    rng = np.random.default_rng(seed)
    model = scratch.mlp([6, 5, 3], "relu", dtype=DTYPE, seed=seed)
    x, y = _randn(rng, 4, 6), rng.integers(0, 3, 4)
    return Case(model, to_torch(model), (x, y), {"steps": 2 if catching else 1}, run=steps_without_zero_grad)


def _softmax(wrong: type[snn.Softmax]):
    """Cases for a wrong softmax: a random upstream gradient, or (catching=False) an all-ones one, under which the
    true input gradient is exactly 0, so the comparison needs an atol to pass the right backward."""

    def make(catching, seed):
        x = _randn(np.random.default_rng(seed), 4, 5)
        options = {"seed": seed} if catching else {"dout": np.ones_like(x), "atol": 1e-12}
        return Case(wrong(dim=-1), nn.Softmax(dim=-1), (x,), options)

    return make


BUGS = [
    Bug("relu_clipped", "ReLU backward clips the upstream gradient, max(dout, 0), instead of masking it with x > 0",
        "0.bias.grad", "random upstream gradient (both signs)", _relu_clipped),
    Bug("bias_after_tanh", "tanh(x @ W.T) + b differentiated with 1 - y**2 of the post-bias output y",
        "weight.grad", "nonzero bias", _bias_after_tanh, hidden_by="zero bias"),
    Bug("mse_summed", "MSE gradient 2 * (pred - target), summed over elements instead of averaged",
        "2.bias.grad", "more than one output value", _mse_summed, hidden_by="batch 1, one output"),
    Bug("ce_no_onehot", "softmax cross-entropy gradient softmax(logits) / N, without subtracting the one-hot target",
        "2.bias.grad", "any target", _ce_no_onehot),
    Bug("sigmoid_preactivation", "sigmoid derivative z(1 - z) on the pre-activation z instead of s(1 - s)",
        "0.bias.grad", "any input", _sigmoid_preactivation),
    Bug("transposed_weight_grad", "weight gradient x.T @ dout in a square layer: shape-correct, value-wrong",
        "0.weight.grad", "random weights and inputs", _transposed_weight_grad),
    Bug("bias_grad_averaged", "bias gradient averaged over the batch instead of summed",
        "2.bias.grad", "batch size > 1", _bias_grad_averaged, hidden_by="batch size 1"),
    Bug("relu_grad_at_zero", "ReLU backward passes the gradient where x == 0 (mask x >= 0)",
        "input.grad", "planted zeros", _relu_at_zero, hidden_by="inputs without exact zeros"),
    Bug("grads_not_zeroed", "training loop never zeroes the gradients, so each step adds onto the last",
        "2.bias.grad", "2 steps", _grads_not_zeroed, hidden_by="1 step"),
    Bug("softmax_diagonal_only", "softmax backward as the elementwise s(1 - s), without the off-diagonal -s_i s_j",
        "input.grad", "any nonzero upstream gradient (all-ones too)", _softmax(DiagonalSoftmax)),
    Bug("softmax_missing_s", "softmax backward as dout - sum(dout * s), forgetting the factor s",
        "input.grad", "random upstream gradient", _softmax(SoftmaxMissingS), hidden_by="all-ones upstream gradient"),
]


# -- running the zoo ---------------------------------------------------------------------------------------------
def run_zoo(seed: int = 0) -> list[dict]:
    """Check every bug: caught, named as expected, and (where it has a blind spot) missed under the hiding inputs."""
    results = []
    for bug in BUGS:
        report = bug.check(True, seed)
        first = report.first_failure.name if report.first_failure else None
        hidden = bug.check(False, seed).ok if bug.hidden_by else None
        results.append({
            "name": bug.name,
            "mistake": bug.mistake,
            "expected": bug.expected,
            "first_failure": first,
            "caught_by": bug.caught_by,
            "caught": not report.ok,
            "hidden_by": bug.hidden_by,
            "hidden": hidden,
            "as_expected": not report.ok and first == bug.expected and hidden is not False,
        })
    return results


def add_zoo_parser(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="run the checker on a zoo of deliberately wrong backward passes",
                              description="Run the parity checker on each deliberately wrong NumPy backward pass "
                              "and show which tensor it names first and what input exposes the mistake. Exits 1 "
                              "when a bug goes uncaught, is named wrongly, or is caught where it should hide.")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default: 0)")
    p.add_argument("--show", choices=[bug.name for bug in BUGS], default=None, metavar="BUG",
                   help="print the checker's full table for one bug, named as in the table (default: none)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=zoo_command)


def zoo_command(args: argparse.Namespace) -> int:
    results = run_zoo(args.seed)
    ok = all(r["as_expected"] for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "seed": args.seed, "bugs": results}, indent=2))
        return 0 if ok else 1
    header = ("bug", "named first", "caught by", "caught", "hidden by (passes there)", "mistake")
    rows = [header] + [(
        r["name"],
        r["first_failure"] or "-",
        r["caught_by"],
        ("yes" if r["caught"] else "NO") + ("" if r["first_failure"] in (None, r["expected"])
                                            else f" (expected {r['expected']})"),
        "-" if r["hidden_by"] is None else f"{r['hidden_by']}: {'yes' if r['hidden'] else 'NO, caught there too'}",
        r["mistake"],
    ) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    if args.show:
        bug = next(b for b in BUGS if b.name == args.show)
        print(f"\n{bug.name}, caught by {bug.caught_by}:\n{bug.check(True, args.seed)}")
        if bug.hidden_by:
            print(f"\n{bug.name}, with {bug.hidden_by}:\n{bug.check(False, args.seed)}")
    caught = sum(r["as_expected"] for r in results)
    print(f"\n{caught} of {len(results)} bugs caught and named as expected: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1
