"""The bug zoo's cases: each wrong module with its correct torch twin, the inputs that expose it, and the name expected.

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

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

import scratch
import scratch.nn as snn

from ..convert import to_torch
from ..parity import TRAJECTORY_RTOL, Report, compare, diff
from ..parity.trajectory import Twins
from .bugs import (
    ClippedReLU,
    DiagonalSoftmax,
    ForgetfulSGD,
    MeanBiasLinear,
    NoOneHotCrossEntropyLoss,
    PostBiasTanh,
    PreactivationSigmoid,
    ReLUPassingZero,
    SoftmaxMissingS,
    SummedMSELoss,
    TorchPostBiasTanh,
    TransposedGradLinear,
)

DTYPE = np.float64  # tight parity: a wrong backward cannot hide in rounding


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

from .recurrent import RECURRENT_BUGS  # last: it builds on Bug and Case above

BUGS += RECURRENT_BUGS
