"""Optimizers in NumPy following torch.optim's documented update rules, state included."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .module import Parameter

# Settings that must be >= 0, with the words torch's refusal uses for each ("Invalid learning rate: -1", ...).
_NONNEGATIVE = {"lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
                "weight_decay": "weight_decay value", "alpha": "alpha value", "lr_decay": "lr_decay value",
                "initial_accumulator_value": "initial_accumulator_value value"}


class Optimizer:
    """Holds `param_groups` and per-parameter `state`, as torch.optim.Optimizer does."""

    def __init__(self, params: Iterable[Parameter], defaults: dict):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for key, words in _NONNEGATIVE.items():
            if key in defaults and not 0.0 <= defaults[key]:  # NaN is refused too, as in torch
                raise ValueError(f"Invalid {words}: {defaults[key]} ({key} must be a number >= 0)")
        self.defaults = defaults
        self.param_groups = [{"params": params, **defaults}]
        self.state: dict[Parameter, dict] = {}

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state.setdefault(p, {}), group)

    def update(self, p: Parameter, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """State and hyperparameters with parameters numbered in order, as in torch's optimizer.state_dict()."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = [index.setdefault(p, len(index)) for p in group["params"]]
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[p]: {k: np.copy(v) for k, v in s.items()} for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov}
        super().__init__(params, defaults)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")

    def update(self, p, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.copy()  # the first step takes the gradient as it is, without dampening
            else:
                buf = group["momentum"] * buf + (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buf
            grad = grad + group["momentum"] * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad


class Adam(Optimizer):
    decoupled = False  # AdamW decays the weights directly instead of adding weight_decay * p to the gradient

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} (betas must lie in [0, 1))")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad}
        super().__init__(params, defaults)

    def update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        if self.decoupled:
            p.data *= 1 - lr * wd
        elif wd:
            grad = grad + wd * p.data
        state["step"] += 1
        step = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]  # updated in place
        tmp = np.empty_like(m)  # one temporary for every step below, each written as it reads without out=
        m += np.multiply(np.subtract(grad, m, out=tmp), 1 - beta1, out=tmp)  # m += (1 - beta1) * (g - m), a lerp
        v *= beta2
        v += np.multiply(np.multiply(grad, 1 - beta2, out=tmp), grad, out=tmp)  # v += (1 - beta2) * g * g
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = np.add(np.divide(np.sqrt(v, out=tmp), math.sqrt(1 - beta2**step), out=tmp), group["eps"], out=tmp)
        p.data -= np.multiply(np.divide(m, denom, out=tmp), lr / (1 - beta1**step), out=tmp)  # m / denom * rate


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square; `centered` subtracts the running mean first."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
                    "centered": centered}
        super().__init__(params, defaults)

    def update(self, p, grad, state, group):
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0.0
            state["square_avg"] = np.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)  # as torch's lerp
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            avg = np.sqrt(square_avg) + group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (grad / avg)


class Adagrad(Optimizer):
    """Divide the gradient by the root of the sum of all its squares so far; the rate decays with lr_decay."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults)
        for p in self.param_groups[0]["params"]:  # torch creates this state up front, before the first step
            self.state[p] = {"step": 0.0, "sum": np.full_like(p.data, initial_accumulator_value)}

    def update(self, p, grad, state, group):
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        p.data -= clr * (grad / (np.sqrt(state["sum"]) + group["eps"]))


# The optimizer choices of the scripts and of `mlp-parity`: name -> (class, fixed settings), and default rates.
PRESETS = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}
DEFAULT_LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 1e-3, "adamw": 1e-3}


def preset_settings(name: str, lr: float | None = None, weight_decay: float = 0.0) -> dict:
    """The keyword arguments of preset `name` (the same on the torch side), with its default rate unless given."""
    if name not in PRESETS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(PRESETS)}")
    settings = dict(PRESETS[name][1], lr=DEFAULT_LR[name] if lr is None else lr)
    if weight_decay:
        settings["weight_decay"] = weight_decay
    return settings


def make(name: str, params, lr: float | None = None, weight_decay: float = 0.0) -> Optimizer:
    """The scratch optimizer of preset `name` over `params`."""
    return PRESETS[name][0](params, **preset_settings(name, lr, weight_decay))
