"""The parity checker: run a scratch module and its torch twin on the same input and compare every tensor."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math

import numpy as np
import torch
from torch import nn

import scratch
import scratch.nn as snn

from ..convert import _build_torch, copy_into_torch
from .exact import exact_device, share_dropout_masks
from .per_layer import can_split, record_child_grads
from .report import STEP_RTOL, Report, Row, as_numpy, diff, tolerance
from .rounding import random_state, within_rounding

__all__ = ["LOSSES", "compare", "exact_device", "loss_pair", "share_dropout_masks", "torch_target"]

LOSSES = {
    "cross_entropy": snn.CrossEntropyLoss,
    "mse": snn.MSELoss,
    "nll": snn.NLLLoss,
    "bce": snn.BCEWithLogitsLoss,
}


def loss_pair(loss) -> tuple[snn.Module, nn.Module]:
    """A loss given as a name, a scratch loss, or a (scratch loss, torch loss) pair -> both sides."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
        loss = LOSSES[loss]()
    if isinstance(loss, tuple):
        return loss
    return loss, _build_torch(loss)


def torch_target(target, device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(target)).to(device)
    return t.long() if not t.is_floating_point() else t


def compare(
    scratch_module: scratch.Module,
    torch_module: nn.Module,
    *inputs,
    target=None,
    loss=None,
    dout=None,
    rtol: float | None = None,
    atol: float = 0.0,
    device: str = "cpu",
    seed: int = 0,
    input_grad: bool | tuple[bool, ...] = True,
    per_layer: bool | None = None,
    plot=None,
) -> Report:
    """Copy the scratch weights into the torch module, run forward and backward on both, compare every tensor.

    With `loss` and `target` the backward starts from the loss (and d(loss)/d(output) gets a row); otherwise from
    `dout` (a tuple for a module returning a tuple), or from a random upstream gradient seeded by `seed`. Each side
    gets its own copy of the inputs; integer inputs are data. An input may be a (nested) tuple of arrays, such as an
    LSTM's `(h_0, c_0)`, or None; its gradient is then the matching tuple, and its rows are named like a tuple
    output's: `input1[0].grad`. `input_grad=False` (or one flag per input) skips input gradients a backward never
    computes. `per_layer` (default: on for two Sequentials) adds a row for the gradient each child returns.
    `plot=PATH` draws |a - b| of the first failing tensor.
    """
    if (loss is None) != (target is None):
        raise ValueError("pass both loss and target, or neither (then a random upstream gradient is used)")
    _check_modes(scratch_module, torch_module)
    state = random_state(device)  # a float32 row beyond the table reruns torch with the same dropout masks
    inputs = [_map(as_numpy, x) for x in inputs]
    wants = _input_flags(inputs, input_grad)
    if per_layer is None:
        per_layer = can_split(scratch_module, torch_module)
    elif per_layer and not can_split(scratch_module, torch_module):
        raise ValueError("per_layer=True needs a scratch Sequential and a torch Sequential with as many children; got "
                         f"{type(scratch_module).__name__} and {type(torch_module).__name__}")
    with exact_device(device) as dev:
        torch_module.to(dev)
        copy_into_torch(scratch_module.state_dict(), torch_module)
        scratch_module.zero_grad()
        torch_module.zero_grad(set_to_none=True)
        t_inputs = [_map(functools.partial(_tensor, dev=dev, grad=w), x) for x, w in zip(inputs, wants)]
        s_inputs = [_map(np.array, x) for x in inputs]  # a forward that edits its input in place cannot reach torch's
        recorder = record_child_grads(scratch_module, torch_module) if per_layer else contextlib.nullcontext()
        with recorder as children:
            report = _run(scratch_module, torch_module, s_inputs, t_inputs, wants, target, loss, dout, rtol, atol,
                          dev, seed, children if per_layer else None)
    report.settle_zeros()
    if rtol is None:
        rerun = functools.partial(compare, rtol=math.inf, atol=atol, device=device, seed=seed, input_grad=input_grad,
                                  per_layer=per_layer)
        within_rounding(report, rerun, (scratch_module, torch_module), inputs, dout, target, loss, state, device)
    if plot is not None and not report.ok:
        report.plot(plot)
    return report


def _run(scratch_module, torch_module, s_inputs, t_inputs, wants, target, loss, dout, rtol, atol, dev, seed, children):
    undo = share_dropout_masks(scratch_module, torch_module)
    try:
        t_out = torch_module(*t_inputs)  # torch first: its dropout masks are replayed on the scratch side
        out = scratch_module(*s_inputs)
    finally:
        undo()
    names, outs, t_outs = _outputs(out, t_out)
    if rtol is None:
        rtol = tolerance(STEP_RTOL, next((o.dtype for o in outs if o.dtype.kind == "f"), outs[0].dtype))
    report = Report(rtol=rtol, atol=atol, reference="torch")
    report.rows += [diff(name, o, t, rtol, atol) for name, o, t in zip(names, outs, t_outs)]
    if loss is not None:
        if len(outs) > 1:
            raise ValueError(f"the module returns {len(outs)} tensors and a loss takes one: pass dout instead")
        s_loss, t_loss = loss_pair(loss)
        if t_out.requires_grad:
            t_out.retain_grad()
        s_value, t_value = s_loss(out, target), t_loss(t_out, torch_target(target, dev))
        report.rows.append(diff("loss", s_value, t_value, rtol, atol))
        dout = s_loss.backward()
        t_value.backward()
        report.rows.append(_grad_row("output.grad", dout, t_out.grad, rtol, atol))
    else:
        dout = _upstream(dout, out, names, outs, seed)
        pairs = [(t, torch.from_numpy(np.array(d)).to(dev)) for t, d in zip(t_outs, _leaves(dout)) if t.requires_grad]
        if pairs:
            torch.autograd.backward([t for t, _ in pairs], [d for _, d in pairs])
    dinputs = _backward(scratch_module, dout, any(wants))
    t_buffers = dict(torch_module.named_buffers())
    at = len(outs)
    report.rows[at:at] = [diff(name, buf, t_buffers[name], rtol, atol) for name, buf in scratch_module.named_buffers()]
    report.rows += _param_rows(scratch_module, torch_module, children, rtol, atol)
    report.rows += _input_rows(dinputs, s_inputs, t_inputs, wants, rtol, atol)
    return report


def _check_modes(scratch_module, torch_module) -> None:
    t_modes = {name: m.training for name, m in torch_module.named_modules()}
    for name, m in scratch_module.named_modules():
        if name in t_modes and t_modes[name] != m.training:
            modes = {True: "train", False: "eval"}
            raise ValueError(f"layer '{name or 'model'}' is in {modes[m.training]} mode on the scratch side but in "
                             f"{modes[t_modes[name]]} mode on the torch side: call .train() or .eval() on both")


def _input_flags(inputs: list, input_grad) -> list[bool]:
    """Which inputs get a gradient: floating ones, unless input_grad says otherwise (integer inputs are data)."""
    flags = [input_grad] * len(inputs) if isinstance(input_grad, bool) else list(input_grad)
    if len(flags) != len(inputs) or not all(isinstance(f, bool) for f in flags):
        raise ValueError(f"input_grad must be True, False or one bool per input ({len(inputs)}); got {input_grad!r}")
    return [f and _floating(x) for f, x in zip(flags, inputs)]


def _tensor(array: np.ndarray, dev, grad: bool) -> torch.Tensor:
    """A torch copy of one input array, tracking its gradient when wanted and floating (integers are data)."""
    return torch.from_numpy(np.array(array)).to(dev).requires_grad_(grad and array.dtype.kind == "f")


def _floating(value) -> bool:
    return any(leaf is not None and leaf.dtype.kind == "f" for leaf in _leaves(value))


def _map(fn, value):
    """fn applied to every leaf of a (nested) tuple or list, None left as None."""
    if isinstance(value, (tuple, list)):
        return type(value)(_map(fn, v) for v in value)
    return None if value is None else fn(value)


def _named(value, name: str = "output") -> list[tuple[str, object]]:
    """(name, leaf) for every leaf of a (nested) tuple or list: output[0], output[1][0], output[1][1], ..."""
    if isinstance(value, (tuple, list)):
        return [pair for i, v in enumerate(value) for pair in _named(v, f"{name}[{i}]")]
    return [(name, value)]


def _leaves(value) -> list:
    return [leaf for _, leaf in _named(value)]


def _names(value) -> list[str]:
    return [name for name, _ in _named(value)]


def _outputs(out, t_out) -> tuple[list[str], list[np.ndarray], list[torch.Tensor]]:
    """Both forwards' outputs, element by element when both return (nested) tuples of the same shape."""
    names, t_names = _names(out), _names(t_out)
    if names != t_names:
        def what(v):
            return f"a tuple of {len(v)}" if isinstance(v, (tuple, list)) else "one array"

        habit = (" If the extra element is a cache for backward (the (out, cache) habit), keep it on the module "
                 "(self.cache = ...) and return out alone." if isinstance(out, (tuple, list)) else "")
        raise TypeError(f"the scratch forward returned {what(out)} ({', '.join(names)}) but the torch module returned "
                        f"{what(t_out)} ({', '.join(t_names)}): both must return the same outputs.{habit}")
    return names, [as_numpy(o) for o in _leaves(out)], _leaves(t_out)


def _upstream(dout, out, names: list[str], outs: list[np.ndarray], seed: int):
    """The given upstream gradient, checked against the outputs, or a random one from a stream of its own."""
    if dout is None:
        rng = np.random.default_rng([seed, 1])  # inputs drawn with default_rng(seed) are never reused as dout
        douts = iter([rng.standard_normal(o.shape).astype(o.dtype) for o in outs])
        return _rebuild(out, douts)
    if _names(dout) != names:
        raise ValueError(f"dout must match the outputs ({', '.join(names)}), got {', '.join(_names(dout))}")
    for name, d, o in zip(names, _leaves(dout), outs):
        if np.shape(d) != o.shape:
            raise ValueError(f"dout for {name} has shape {np.shape(d)} but the output has shape {o.shape}")
    return dout


def _rebuild(value, leaves):
    if isinstance(value, (tuple, list)):
        return type(value)(_rebuild(v, leaves) for v in value)
    return next(leaves)


def _backward(scratch_module, dout, input_grad: bool):
    """The scratch backward; told to skip the input gradient when none is wanted and it can."""
    if not input_grad and "input_grad" in inspect.signature(scratch_module.backward).parameters:
        return scratch_module.backward(dout, input_grad=False)
    return scratch_module.backward(dout)


def _input_rows(dinputs, s_inputs, t_inputs, wants, rtol, atol) -> list[Row]:
    """One row per input array that wants a gradient, leaf by leaf for a tuple input; a backward returning too few
    gradients fails, never truncates."""
    grads = [] if dinputs is None else list(dinputs) if isinstance(dinputs, (tuple, list)) else [dinputs]
    if len(s_inputs) == 1 and isinstance(s_inputs[0], (tuple, list)):
        grads = [dinputs]  # one tuple input: the backward returns its gradient, a tuple of the same shape
    floats = [i for i, x in enumerate(s_inputs) if _floating(x)]
    if len(grads) == len(s_inputs):
        by_input = dict(enumerate(grads))
    elif len(grads) == len(floats):  # no entry for integer inputs
        by_input = dict(zip(floats, grads))
    else:
        by_input = dict(enumerate(grads))
    note = (f"scratch backward returned {len(grads)} gradient(s) for {len(s_inputs)} inputs; return one per input, "
            "or pass input_grad=False (or one flag per input) for those it does not compute")
    rows = []
    for i, (t_x, want) in enumerate(zip(t_inputs, wants)):
        if not want:
            continue
        grad = by_input.get(i)
        for (name, t), g in zip(_named(t_x, "input" if len(t_inputs) == 1 else f"input{i}"), _aligned(grad, t_x)):
            if t is None or not t.requires_grad:
                continue
            if grad is None:
                rows.append(Row(f"{name}.grad", tuple(t.shape), "-", np.inf, np.inf, False, note, grad=True))
            else:
                rows.append(_grad_row(f"{name}.grad", g, t.grad, rtol, atol))
    return rows


def _aligned(grad, like) -> list:
    """The leaves of an input's gradient in the order of the input's leaves; None where the structures differ."""
    if not isinstance(like, (tuple, list)):
        return [grad]
    if not isinstance(grad, (tuple, list)) or len(grad) != len(like):
        return [None] * len(_leaves(like))
    return [leaf for g, x in zip(grad, like) for leaf in _aligned(g, x)]


def _param_rows(scratch_module, torch_module, children, rtol: float, atol: float) -> list[Row]:
    """Parameter gradients in backward order; with per-layer recordings, child i's rows end with the gradient child i
    returns (its input gradient), so a wrong parameter-free layer is named at its own row."""
    t_params = dict(torch_module.named_parameters())
    rows = [_grad_row(f"{name}.grad", param.grad, t_params[name].grad, rtol, atol)
            for name, param in reversed(list(scratch_module.named_parameters()))]
    if children is None:
        return rows
    s_grads, t_grads = children
    ordered = []
    for i in reversed(range(len(scratch_module))):
        ordered += [row for row in rows if row.name.split(".", 1)[0] == str(i)]
        t_grad = t_grads[i].grad if i in t_grads else None
        if i > 0 and (s_grads.get(i) is not None or t_grad is not None):
            row = _grad_row(f"{i}.input.grad", s_grads.get(i), t_grad, rtol, atol)
            if not row.ok and not row.note:
                row.note = f"returned by {type(scratch_module[i]).__name__}.backward"
            ordered.append(row)
    return ordered


def _grad_row(name: str, grad, t_grad, rtol: float, atol: float) -> Row:
    if grad is None or t_grad is None:
        missing = [side for side, g in (("scratch", grad), ("torch", t_grad)) if g is None]
        both = len(missing) == 2
        note = "no gradient on either side" if both else f"{missing[0]} has no gradient"
        return Row(name, (), "-", 0.0 if both else np.inf, 0.0 if both else np.inf, both, note, grad=True)
    return diff(name, grad, t_grad, rtol, atol, grad=True)
