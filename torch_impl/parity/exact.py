"""Where the scratch and torch sides must meet exactly: the device (TF32 off) and train-mode dropout masks."""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
from torch import nn

import scratch
import scratch.nn as snn


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
