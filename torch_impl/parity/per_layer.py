"""Per-layer rows for a Sequential: record the gradient each child returns, on both sides, during one backward."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

import scratch.nn as snn


def can_split(scratch_module, torch_module) -> bool:
    """Both sides are Sequentials with the same number of children, so child i on one side is child i on the other."""
    return (isinstance(scratch_module, snn.Sequential) and isinstance(torch_module, nn.Sequential)
            and len(scratch_module) == len(torch_module))


@contextlib.contextmanager
def record_child_grads(scratch_module: snn.Sequential, torch_module: nn.Sequential):
    """Yield (scratch, torch) dicts that fill, during backward, with the gradient flowing out of child i into its
    input (i >= 1; child 0's is the module's input gradient): what scratch child i's backward returns, and the
    gradient autograd leaves on torch child i's input."""
    scratch_grads, torch_grads, handles, wrapped = {}, {}, [], []
    for i in range(1, len(scratch_module)):
        layer = scratch_module[i]
        if any(layer is other for other, _ in wrapped):
            continue  # one object used twice has one cache: its rows would not mean anything
        wrapped.append((layer, vars(layer).get("backward")))
        layer.backward = _recording(layer.backward, scratch_grads, i)
        handles.append(torch_module[i].register_forward_pre_hook(_retaining(torch_grads, i)))
    try:
        yield scratch_grads, torch_grads
    finally:
        for handle in handles:
            handle.remove()
        for layer, own in wrapped:
            del layer.backward
            if own is not None:
                layer.backward = own


def _recording(backward, grads: dict, i: int):
    def recording(dout, *args, **kwargs):
        grads[i] = backward(dout, *args, **kwargs)
        return grads[i]

    return recording


def _retaining(grads: dict, i: int):
    def retain(module, args):
        if args and isinstance(args[0], torch.Tensor) and args[0].requires_grad:
            args[0].retain_grad()
            grads[i] = args[0]

    return retain
