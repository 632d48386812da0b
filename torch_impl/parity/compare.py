"""The parity checker: run a scratch module and its torch twin on the same input and compare every tensor."""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
from torch import nn

import scratch
import scratch.nn as snn

from ..convert import _build_torch, copy_into_torch
from .report import STEP_RTOL, Report, Row, diff, tolerance

LOSSES = {
    "cross_entropy": snn.CrossEntropyLoss,
    "mse": snn.MSELoss,
    "nll": snn.NLLLoss,
    "bce": snn.BCEWithLogitsLoss,
}


@contextlib.contextmanager
def exact_device(device: str | torch.device):
    """Check the device exists and, on CUDA, switch TF32 off so matrix products run in full float32."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch finds no CUDA GPU; use device='cpu'")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield device
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def share_dropout_masks(scratch_module: scratch.Module, torch_module: nn.Module):
    """Make each scratch Dropout replay the mask its torch twin (same name) drew; returns a function that undoes it.

    The torch forward must run first: a hook records the mask by replaying torch's random state on a tensor of
    ones, so torch's own dropout kernel draws it, whatever the device.
    """
    t_modules = dict(torch_module.named_modules())
    masks, handles, layers = {}, [], []
    for name, layer in scratch_module.named_modules():
        if isinstance(layer, snn.Dropout):
            twin = t_modules.get(name)
            if not isinstance(twin, nn.Dropout):
                raise TypeError(f"scratch Dropout '{name}' has no torch Dropout of the same name to share masks with")
            handles += _record_masks(twin, name, masks)
            layer.mask_source = functools.partial(_recorded_mask, masks, name)
            layers.append(layer)

    def undo():
        for handle in handles:
            handle.remove()
        for layer in layers:
            layer.mask_source = None

    return undo


def _rng_state(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_rng_state(state: torch.Tensor, device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def _record_masks(dropout: nn.Dropout, name: str, masks: dict) -> list:
    before_forward = {}

    def save_state(module, args):
        before_forward["state"] = _rng_state(args[0].device)

    def replay(module, args, output):
        if module.training:
            device = args[0].device
            after_forward = _rng_state(device)
            _set_rng_state(before_forward["state"], device)
            masks[name] = (torch.nn.functional.dropout(torch.ones_like(args[0]), module.p) != 0).cpu().numpy()
            _set_rng_state(after_forward, device)

    return [dropout.register_forward_pre_hook(save_state), dropout.register_forward_hook(replay)]


def _recorded_mask(masks: dict, name: str, shape: tuple) -> np.ndarray:
    mask = masks.pop(name, None)
    if mask is None or mask.shape != shape:
        raise RuntimeError(f"no torch mask of shape {shape} was recorded for Dropout '{name}': "
                           "run the torch forward before the scratch forward")
    return mask


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
    *inputs: np.ndarray,
    target=None,
    loss=None,
    dout: np.ndarray | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    device: str = "cpu",
    seed: int = 0,
) -> Report:
    """Copy the scratch weights into the torch module, run forward and backward on both, compare every tensor.

    With `loss` and `target` the backward starts from the loss; otherwise from `dout`, or from a random
    upstream gradient (seeded by `seed`) when none is given. Gradients already held are reset first.
    """
    if (loss is None) != (target is None):
        raise ValueError("pass both loss and target, or neither (then a random upstream gradient is used)")
    t_modes = {name: m.training for name, m in torch_module.named_modules()}
    for name, m in scratch_module.named_modules():
        if name in t_modes and t_modes[name] != m.training:
            modes = {True: "train", False: "eval"}
            raise ValueError(f"layer '{name or 'model'}' is in {modes[m.training]} mode on the scratch side but in "
                             f"{modes[t_modes[name]]} mode on the torch side: call .train() or .eval() on both")
    with exact_device(device) as dev:
        torch_module.to(dev)
        copy_into_torch(scratch_module.state_dict(), torch_module)
        scratch_module.zero_grad()
        torch_module.zero_grad(set_to_none=True)
        t_inputs = [torch.from_numpy(np.ascontiguousarray(x)).to(dev).requires_grad_() for x in inputs]
        undo = share_dropout_masks(scratch_module, torch_module)
        try:
            t_out = torch_module(*t_inputs)  # torch first: its dropout masks are replayed on the scratch side
            out = scratch_module(*inputs)
        finally:
            undo()
        if rtol is None:
            rtol = tolerance(STEP_RTOL, out.dtype)
        report = Report(rtol=rtol, atol=atol)
        report.rows.append(diff("output", out, t_out, rtol, atol))
        if loss is not None:
            s_loss, t_loss = loss_pair(loss)
            s_value = s_loss(out, target)
            t_value = t_loss(t_out, torch_target(target, dev))
            report.rows.append(diff("loss", s_value, t_value, rtol, atol))
            dout = s_loss.backward()
            t_value.backward()
        else:
            if dout is None:
                # a stream of its own: inputs drawn with default_rng(seed) are never reused as the gradient
                rng = np.random.default_rng([seed, 1])
                dout = rng.standard_normal(out.shape).astype(out.dtype)
            t_out.backward(torch.from_numpy(np.ascontiguousarray(dout)).to(dev))
        dinputs = scratch_module.backward(dout)
        dinputs = dinputs if isinstance(dinputs, tuple) else (dinputs,)

        t_buffers = dict(torch_module.named_buffers())
        report.rows[1:1] = [diff(name, buf, t_buffers[name], rtol, atol) for name, buf in scratch_module.named_buffers()]
        t_params = dict(torch_module.named_parameters())
        for name, param in reversed(list(scratch_module.named_parameters())):
            report.rows.append(_grad_row(f"{name}.grad", param.grad, t_params[name].grad, rtol, atol))
        for i, (dx, t_x) in enumerate(zip(dinputs, t_inputs)):
            name = "input.grad" if len(t_inputs) == 1 else f"input{i}.grad"
            report.rows.append(_grad_row(name, dx, t_x.grad, rtol, atol))
    return report


def _grad_row(name: str, grad, t_grad, rtol: float, atol: float) -> Row:
    if grad is None or t_grad is None:
        missing = [side for side, g in (("scratch", grad), ("torch", t_grad)) if g is None]
        both = len(missing) == 2
        note = "no gradient on either side" if both else f"{missing[0]} has no gradient"
        return Row(name, (), "-", 0.0 if both else np.inf, 0.0 if both else np.inf, both, note)
    return diff(name, grad, t_grad, rtol, atol)
