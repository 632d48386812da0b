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
        """Add a gradient into `.grad`, as autograd does for a leaf tensor; the first one is kept, not copied (pass a
        fresh array, as a layer's backward does)."""
        self.grad = dgrad if self.grad is None else self.grad + dgrad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


def _array(value) -> np.ndarray:
    return value.data if isinstance(value, Parameter) else value


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: subclasses set `Parameter`s and sub-`Module`s as attributes and write forward and backward.

    `backward(dout)` takes the gradient of the loss with respect to the last forward's output,
    adds the parameter gradients into `.grad` and returns the gradient with respect to the input.
    """

    training = True
    _buffer_names: tuple[str, ...] = ()

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

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Keep state that is not trained (running statistics): saved in state_dict, never given a gradient."""
        self._buffer_names = (*self._buffer_names, name)
        setattr(self, name, value)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name in self._buffer_names:
            yield prefix + name, getattr(self, name)
        for name, child in self.named_children():
            yield from child.named_buffers(prefix + name + ".")

    def _state_slots(self, prefix: str = "") -> Iterator[tuple[str, Module, str]]:
        """(key, owner, attribute) for each parameter and buffer, in torch's state_dict order."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, self, name
        for name in self._buffer_names:
            yield prefix + name, self, name
        for name, child in self.named_children():
            yield from child._state_slots(prefix + name + ".")

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
        """Copies of every parameter and buffer, keyed as in the torch twin ('0.weight', '0.bias', ...)."""
        return OrderedDict((key, np.array(_array(getattr(owner, attr)))) for key, owner, attr in self._state_slots())

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers; every key, shape and dtype is checked before anything is
        written, so on an error nothing is loaded."""
        slots = {key: (owner, attr) for key, owner, attr in self._state_slots()}
        arrays = {key: _array(getattr(owner, attr)) for key, (owner, attr) in slots.items()}
        missing = [k for k in arrays if k not in state_dict]
        unexpected = [k for k in state_dict if k not in arrays]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        for key, array in arrays.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            if value.dtype.kind not in "biuf":
                problems.append(f"'{key}' holds {value.dtype} values, expected real numbers castable to {array.dtype}")
            elif value.shape != array.shape:
                problems.append(f"'{key}' has shape {value.shape}, the model expects {array.shape}")
        if problems:
            raise ValueError(
                f"cannot load state_dict into {type(self).__name__} (nothing was loaded): " + "; ".join(problems)
            )
        for key, (owner, attr) in slots.items():
            if key in state_dict:
                value = getattr(owner, attr)
                if isinstance(value, Parameter):
                    np.copyto(value.data, state_dict[key])
                else:
                    setattr(owner, attr, np.array(state_dict[key], dtype=value.dtype))
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""
