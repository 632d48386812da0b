"""Optimizers in NumPy following torch.optim's documented update rules, state included."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .module import Parameter


class Optimizer:
    """Holds `param_groups` and per-parameter `state`, as torch.optim.Optimizer does."""

    def __init__(self, params: Iterable[Parameter], defaults: dict):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for key in ("lr", "weight_decay"):
            if defaults.get(key, 0) < 0:
                raise ValueError(f"{key} must be >= 0, got {defaults[key]}")
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
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov}
        super().__init__(params, defaults)

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
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
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
        m, v = state["exp_avg"], state["exp_avg_sq"]  # updated in place, through one scratch buffer
        tmp = grad - m
        tmp *= 1 - beta1
        m += tmp  # = beta1 * m + (1 - beta1) * g, as torch's lerp
        v *= beta2
        np.multiply(grad, 1 - beta2, out=tmp)
        tmp *= grad
        v += tmp  # = beta2 * v + (1 - beta2) * g * g
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(bias_correction2)
        tmp += group["eps"]  # denom
        np.divide(m, tmp, out=tmp)
        tmp *= lr / bias_correction1
        p.data -= tmp


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


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
