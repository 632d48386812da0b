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

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import scratch
import scratch.nn as snn
from scratch import optim as soptim

from ..convert import to_torch
from ..parity import TRAJECTORY_RTOL, Report, compare, diff, loss_pair, torch_target
from .bugs import (
    ClippedReLU,
    DiagonalSoftmax,
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
    make: Callable[[int], Case]  # seed -> the case whose inputs expose the mistake
    hidden_by: str | None = None  # the inputs under which the mistake passes unnoticed, if any
    hide: Callable[[int], Case] | None = None  # seed -> the same check with those inputs

    def __post_init__(self):
        if (self.hidden_by is None) != (self.hide is None):
            raise ValueError(f"bug {self.name}: give both hidden_by and hide, or neither")

    def check(self, catching: bool = True, seed: int = 0) -> Report:
        if not catching and self.hide is None:
            raise ValueError(f"bug {self.name} has no inputs that hide it")
        case = self.make(seed) if catching else self.hide(seed)
        return case.run(case.scratch_module, case.torch_module, *case.inputs, **case.options)


BUGS: list[Bug] = []


def zoo_bug(name: str, mistake: str, expected: str, caught_by: str, hidden_by: str | None = None, **hiding):
    """Register the decorated builder `make(seed, **options) -> Case` as a bug of the zoo; with `hidden_by`, the
    keyword arguments `hiding` build the same case with the inputs that hide the mistake."""

    def register(make):
        hide = functools.partial(make, **hiding) if hidden_by else None
        BUGS.append(Bug(name, mistake, expected, caught_by, make, hidden_by, hide))
        return make

    return register


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(DTYPE)


def _swapped_layer(sizes: list[int], activation: str, index: int, wrong: Callable[[int], scratch.Module]):
    """A builder `make(seed, batch=4)`: a seeded scratch mlp whose layer `index` is wrong(seed), holding the same
    weights, against the correct torch twin, on a batch of random inputs."""

    def make(seed, batch=4):
        good = scratch.mlp(sizes, activation, dtype=DTYPE, seed=seed)
        layer = wrong(seed)
        layer.load_state_dict(good[index].state_dict())
        layers = list(good.layers)
        layers[index] = layer
        x = _randn(np.random.default_rng(seed), batch, sizes[0])
        return Case(snn.Sequential(*layers), to_torch(good), (x,))

    return make


zoo_bug("relu_clipped", "ReLU backward clips the upstream gradient, max(dout, 0), instead of masking it with x > 0",
        "1.input.grad", "random upstream gradient (both signs)")(
    _swapped_layer([6, 5, 3], "relu", 1, lambda seed: ClippedReLU()))


@zoo_bug("bias_after_tanh", "tanh(x @ W.T) + b differentiated with 1 - y**2 of the post-bias output y",
         "weight.grad", "nonzero bias", "zero bias", zero_bias=True)
def _bias_after_tanh(seed, zero_bias=False):
    rng = np.random.default_rng(seed)
    layer = PostBiasTanh(6, 5, rng)
    if zero_bias:
        layer.bias.data[:] = 0.0
    return Case(layer, TorchPostBiasTanh(6, 5), (_randn(rng, 4, 6),))


@zoo_bug("mse_summed", "MSE gradient 2 * (pred - target), summed over elements instead of averaged",
         "output.grad", "more than one output value", "batch 1, one output", sizes=(6, 5, 1), n=1)
def _mse_summed(seed, sizes=(6, 5, 3), n=4):
    rng = np.random.default_rng(seed)
    model = scratch.mlp(list(sizes), "relu", dtype=DTYPE, seed=seed)
    target = _randn(rng, n, sizes[-1])
    loss = (SummedMSELoss(), nn.MSELoss())
    return Case(model, to_torch(model), (_randn(rng, n, 6),), {"target": target, "loss": loss})


@zoo_bug("ce_no_onehot", "softmax cross-entropy gradient softmax(logits) / N, without subtracting the one-hot target",
         "output.grad", "any target")
def _ce_no_onehot(seed):
    rng = np.random.default_rng(seed)
    model = scratch.mlp([6, 5, 3], "relu", dtype=DTYPE, seed=seed)
    loss = (NoOneHotCrossEntropyLoss(), nn.CrossEntropyLoss())
    return Case(model, to_torch(model), (_randn(rng, 4, 6),), {"target": rng.integers(0, 3, 4), "loss": loss})


zoo_bug("sigmoid_preactivation", "sigmoid derivative z(1 - z) on the pre-activation z instead of s(1 - s)",
        "1.input.grad", "any input")(
    _swapped_layer([6, 5, 3], "sigmoid", 1, lambda seed: PreactivationSigmoid()))
zoo_bug("transposed_weight_grad", "weight gradient x.T @ dout in a square layer: shape-correct, value-wrong",
        "0.weight.grad", "random weights and inputs")(
    _swapped_layer([5, 5, 3], "relu", 0, lambda seed: TransposedGradLinear(5, 5, dtype=DTYPE, rng=seed)))
zoo_bug("bias_grad_averaged", "bias gradient averaged over the batch instead of summed",
        "2.bias.grad", "batch size > 1", "batch size 1", batch=1)(
    _swapped_layer([6, 5, 3], "relu", 2, lambda seed: MeanBiasLinear(5, 3, dtype=DTYPE, rng=seed)))


@zoo_bug("relu_grad_at_zero", "ReLU backward passes the gradient where x == 0 (mask x >= 0)",
         "input.grad", "planted zeros", "inputs without exact zeros", zeros=False)
def _relu_at_zero(seed, zeros=True):
    rng = np.random.default_rng(seed)
    x = _randn(rng, 8, 10)
    if zeros:
        x[rng.random(x.shape) < 0.2] = 0.0
    return Case(ReLUPassingZero(), nn.ReLU(), (x,))


def steps_without_zero_grad(model: scratch.Module, torch_model: nn.Module, x: np.ndarray, y: np.ndarray,
                            steps: int, lr: float = 0.1) -> Report:
    """`steps` SGD steps on both sides, the scratch loop without optimizer.zero_grad(); then the gradients left by
    the last step (backward order) and the weights, scratch against torch."""
    loss_fn, t_loss_fn = loss_pair("cross_entropy")
    optimizer = soptim.SGD(model.parameters(), lr=lr)
    t_optimizer = torch.optim.SGD(torch_model.parameters(), lr=lr)
    for _ in range(steps):
        t_optimizer.zero_grad()
        t_loss_fn(torch_model(torch.from_numpy(x)), torch_target(y, "cpu")).backward()
        t_optimizer.step()
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())  # the mistake: no optimizer.zero_grad() before this backward
        optimizer.step()
    rtol = TRAJECTORY_RTOL[np.dtype(DTYPE)]
    report = Report(rtol=rtol)
    t_params = dict(torch_model.named_parameters())
    for name, param in reversed(list(model.named_parameters())):
        report.rows.append(diff(f"{name}.grad", param.grad, t_params[name].grad, rtol, grad=True))
    t_state = torch_model.state_dict()
    report.rows += [diff(name, value, t_state[name], rtol) for name, value in model.state_dict().items()]
    return report


@zoo_bug("grads_not_zeroed", "training loop never zeroes the gradients, so each step adds onto the last",
         "2.bias.grad", "2 steps", "1 step", steps=1)
def _grads_not_zeroed(seed, steps=2):
    rng = np.random.default_rng(seed)
    model = scratch.mlp([6, 5, 3], "relu", dtype=DTYPE, seed=seed)
    x, y = _randn(rng, 4, 6), rng.integers(0, 3, 4)
    return Case(model, to_torch(model), (x, y), {"steps": steps}, run=steps_without_zero_grad)


def _softmax(wrong: type[snn.Softmax], seed: int, ones: bool = False) -> Case:
    """A wrong softmax under a random upstream gradient, or an all-ones one, under which the true input gradient is
    exactly 0, so the comparison needs an atol to pass the right backward."""
    x = _randn(np.random.default_rng(seed), 4, 5)
    options = {"dout": np.ones_like(x), "atol": 1e-12} if ones else {"seed": seed}
    return Case(wrong(dim=-1), nn.Softmax(dim=-1), (x,), options)


zoo_bug("softmax_diagonal_only", "softmax backward as the elementwise s(1 - s), without the off-diagonal -s_i s_j",
        "input.grad", "any nonzero upstream gradient (all-ones too)")(functools.partial(_softmax, DiagonalSoftmax))
zoo_bug("softmax_missing_s", "softmax backward as dout - sum(dout * s), forgetting the factor s",
        "input.grad", "random upstream gradient", "all-ones upstream gradient",
        ones=True)(functools.partial(_softmax, SoftmaxMissingS))

# Last: the sequence bugs register themselves with zoo_bug and build on Case, DTYPE and _randn above.
from . import recurrent  # noqa: F401
