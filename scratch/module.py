"""Parameter and Module: the two classes every scratch layer is built from, named as in torch.nn."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import numpy as np


class Parameter:
    """A trainable array: `.data` holds the values, `.grad` the accumulated gradient (None until set)."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad: np.ndarray | None = None

    def accumulate(self, dgrad: np.ndarray) -> None:
        """Add a gradient into `.grad`, as torch's autograd does for a leaf tensor."""
        self.grad = dgrad.copy() if self.grad is None else self.grad + dgrad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: subclasses set `Parameter`s and sub-`Module`s as attributes and write forward and backward.

    `backward(dout)` takes the gradient of the loss with respect to the last forward's output,
    adds the parameter gradients into `.grad` and returns the gradient with respect to the input.
    """

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} must define backward()")

    def _cached(self, name: str):
        """Return what forward saved under `name`, or fail clearly when forward has not run."""
        value = getattr(self, name, None)
        if value is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): "
                "run a forward pass first (each forward allows one backward)"
            )
        return value

    # -- traversal -------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def modules(self) -> Iterator[Module]:
        yield self
        for child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def zero_grad(self) -> None:
        """Reset every gradient to None (torch's default, `set_to_none=True`)."""
        for param in self.parameters():
            param.grad = None

    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    # -- weights ---------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter, keyed as in the torch twin ('0.weight', '0.bias', ...)."""
        return OrderedDict((name, param.data.copy()) for name, param in self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters; every key and shape is checked before anything is written."""
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        for key, param in params.items():
            if key in state_dict and np.shape(state_dict[key]) != param.shape:
                problems.append(
                    f"'{key}' has shape {tuple(np.shape(state_dict[key]))}, the model expects {param.shape}"
                )
        if problems:
            raise ValueError(
                f"cannot load state_dict into {type(self).__name__} (nothing was loaded): " + "; ".join(problems)
            )
        for key, param in params.items():
            if key in state_dict:
                np.copyto(param.data, state_dict[key])
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""
