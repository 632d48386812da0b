"""What check_grads is given, checked once: the named arrays, the forward's result, dout and the hand-written grads."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch

from .report import as_numpy

RANDOM = ("forward gave two different values for the same inputs: it draws random numbers (dropout, noise, "
          "sampling). Draw them outside forward and pass them in arrays, as data")


@dataclass
class Leaf:
    """One array of `arrays` (an element of a list counts as one: name "w[1]")."""

    name: str
    key: str  # the name in `arrays` it belongs to
    value: object  # the user's own array or tensor
    differentiable: bool  # floating point; integer arrays are data

    @property
    def is_torch(self) -> bool:
        return isinstance(self.value, torch.Tensor)


def leaves_of(arrays) -> list[Leaf]:
    """Every array of `arrays`, refusing what cannot be differentiated or compared."""
    if not isinstance(arrays, dict) or not arrays:
        raise TypeError(f"arrays must be a non-empty dict of name -> array, e.g. dict(x=x, w=w); got {_what(arrays)}")
    leaves = []
    for key, value in arrays.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise TypeError(f"array names must be Python identifiers (they become forward's arguments); got {key!r}")
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            name = key if index is None else f"{key}[{index}]"
            if not isinstance(item, (np.ndarray, torch.Tensor, np.generic, float, int)) or isinstance(item, bool):
                raise TypeError(f"arrays['{name}'] must be a NumPy array or a torch tensor; got {_what(item)}")
            a = as_numpy(item)
            if a.dtype.kind == "f" and a.dtype not in (np.float32, np.float64):
                raise TypeError(f"arrays['{name}'] is {a.dtype}: gradients are checked in float32 or float64")
            if a.dtype.kind not in "fiub":
                raise TypeError(f"arrays['{name}'] has dtype {a.dtype}: expected floating point (differentiated) "
                                "or integer (data, such as token ids or labels)")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise ValueError(f"arrays['{name}'] holds NaN or inf at {np.argwhere(~np.isfinite(a))[0].tolist()}: "
                                 "gradients of non-finite inputs cannot be checked")
            leaves.append(Leaf(name, key, item, a.dtype.kind == "f"))
    return leaves


def rebuild(arrays: dict, leaves: list[Leaf], values: dict) -> dict:
    """`arrays` with each leaf replaced by values[leaf.name] (lists stay lists)."""
    out = {}
    for key, value in arrays.items():
        if isinstance(value, (list, tuple)):
            out[key] = type(value)(values[f"{key}[{i}]"] for i in range(len(value)))
        else:
            out[key] = values[key]
    return out


def accepted(forward, arrays: dict) -> set[str]:
    """The names of `arrays` that forward takes as arguments (all of them when it takes **kwargs)."""
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        return set(arrays)
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return set(arrays)
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} & set(arrays)


@dataclass
class Result:
    """What forward returned: a scalar loss, an array (its upstream gradient is dout), or named intermediates."""

    kind: str  # "scalar" | "array" | "dict"
    value: object  # the loss or the array, as returned
    intermediates: dict = field(default_factory=dict)  # name -> value, "loss" excluded

    @property
    def is_torch(self) -> bool:
        return isinstance(self.value, torch.Tensor)


def result_of(out) -> Result:
    """Classify forward's return value, with one clear message for anything else."""
    if isinstance(out, dict):
        if "loss" not in out:
            raise TypeError(f"forward returned a dict without 'loss' (keys: {', '.join(map(str, out))}): a dict of "
                            "intermediates must hold the scalar loss under 'loss'")
        loss = out["loss"]
        if _ndim(loss) != 0:
            raise TypeError(f"forward's 'loss' must be a scalar; it has shape {np.shape(as_numpy(loss))}")
        return Result("dict", loss, {k: v for k, v in out.items() if k != "loss"})
    if isinstance(out, (tuple, list)):
        raise TypeError(f"forward returned a {type(out).__name__} of {len(out)}: return a scalar loss, an array, or a "
                        "dict with 'loss'. For the (out, cache) habit, return out alone: lambda x, w: f(x, w)[0]")
    if not _array_like(out):
        raise TypeError(f"forward must return a scalar loss, an array or a dict with 'loss'; it returned {_what(out)}")
    return Result("scalar" if _ndim(out) == 0 else "array", out)


def check_finite(result: Result) -> None:
    for name, value in (("the forward's value", result.value), *result.intermediates.items()):
        a = as_numpy(value)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or inf: gradients there mean nothing; check the inputs")


def upstream(result: Result, dout, seed: int):
    """dout: 1.0 for a scalar loss; for an array the one given, or a random one from a stream of its own."""
    if result.kind != "array":
        if dout is not None and np.ndim(as_numpy(dout)) != 0:
            raise ValueError("forward returns a scalar loss, so its upstream gradient is 1.0; a dout of shape "
                             f"{np.shape(as_numpy(dout))} has nothing to match")
        return 1.0 if dout is None else dout
    out = as_numpy(result.value)
    if dout is None:
        rng = np.random.default_rng([seed, 1])  # never the data a user drew with default_rng(seed)
        dout = rng.standard_normal(out.shape).astype(out.dtype if out.dtype.kind == "f" else np.float64)
        return torch.from_numpy(dout).to(result.value.device) if result.is_torch else dout
    d = as_numpy(dout)
    if d.shape != out.shape:
        raise ValueError(f"dout has shape {d.shape} but forward's output has shape {out.shape}")
    if d.dtype.kind == "f" and not np.all(np.isfinite(d)):
        raise ValueError("dout holds NaN or inf")
    return dout


def hand_written(grads, dout, leaves: list[Leaf], arrays: dict, result: Result) -> dict[str, np.ndarray]:
    """The hand-written gradients as name -> array copies, from a dict, a tuple in arrays order, a bare array, or a
    callable taking dout and returning one of those (called here, right after the user's forward)."""
    if callable(grads) and not isinstance(grads, (np.ndarray, torch.Tensor)):
        grads = grads(dout)
    targets = [leaf for leaf in leaves if leaf.differentiable]
    known = [leaf.name for leaf in targets] + list(result.intermediates)
    if isinstance(grads, (np.ndarray, torch.Tensor)):
        if len(targets) != 1:
            raise TypeError(f"grads is one array but {len(targets)} arrays are differentiable ({', '.join(known)}): "
                            "give a dict keyed by name or a tuple in arrays order")
        grads = {targets[0].name: grads}
    elif isinstance(grads, (tuple, list)):
        grads = _by_position(grads, arrays, targets)
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict of name -> gradient, a tuple in arrays order, one array, or a callable "
                        f"taking dout and returning one of those; got {_what(grads)}")
    out = {}
    for key, value in grads.items():
        name = _resolve(key, arrays, result, known)
        if isinstance(value, (list, tuple)) and isinstance(arrays.get(name), (list, tuple)):
            out.update({f"{name}[{i}]": v for i, v in enumerate(value) if v is not None})
        elif value is not None:
            out[name] = value
    return {name: np.array(as_numpy(value)) for name, value in out.items()}  # copies: a later forward cannot touch them


def _by_position(grads, arrays: dict, targets: list[Leaf]) -> dict:
    names = list(arrays)
    if len(grads) == len(names):
        return dict(zip(names, grads))
    keys = list(dict.fromkeys(leaf.key for leaf in targets))
    if len(grads) == len(keys):
        return dict(zip(keys, grads))
    raise TypeError(f"grads is a tuple of {len(grads)}; expected one entry per array in arrays order "
                    f"({len(names)}: {', '.join(names)}), None for those without a gradient")


def _resolve(key, arrays: dict, result: Result, known: list[str]) -> str:
    """A grads key: an array or intermediate name, "w[1]" for one list element, or "dw" for "w" (the d prefix)."""
    names = [*arrays, *known, *result.intermediates]
    if key in names:
        return key
    if isinstance(key, str) and key.startswith("d") and key[1:] in names:
        return key[1:]
    raise ValueError(f"grads names {key!r}, which is neither an array nor an intermediate of forward; expected one of "
                   f"{', '.join(dict.fromkeys(known))} (a 'd' prefix is allowed: dw for w)")


def _ndim(value) -> int:
    return np.ndim(as_numpy(value))


def _array_like(value) -> bool:
    if isinstance(value, (bool, str, bytes)) or value is None:
        return False
    return isinstance(value, (np.ndarray, np.generic, torch.Tensor, float, int)) or hasattr(value, "tensor")


def _what(value) -> str:
    if value is None:
        return "None"
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")
