"""Weights across the boundary: build the torch twin of a scratch model and back, copying every value bit for bit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

import scratch.nn as snn

# Each scratch class and its torch twin, with the function that builds one from the other's settings.
# Only exact types are matched: a subclass (your own layer, say) has no twin until you add it here.
_PAIRS = [
    (snn.Linear, nn.Linear,
     lambda m: nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=_torch_dtype(m.weight.dtype)),
     lambda m: snn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=_numpy_dtype(m.weight.dtype))),
    (snn.ReLU, nn.ReLU, lambda m: nn.ReLU(), lambda m: snn.ReLU()),
    (snn.LeakyReLU, nn.LeakyReLU, lambda m: nn.LeakyReLU(m.negative_slope), lambda m: snn.LeakyReLU(m.negative_slope)),
    (snn.Sigmoid, nn.Sigmoid, lambda m: nn.Sigmoid(), lambda m: snn.Sigmoid()),
    (snn.Tanh, nn.Tanh, lambda m: nn.Tanh(), lambda m: snn.Tanh()),
    (snn.GELU, nn.GELU, lambda m: nn.GELU(m.approximate), lambda m: snn.GELU(m.approximate)),
    (snn.Softmax, nn.Softmax, lambda m: nn.Softmax(m.dim), lambda m: snn.Softmax(m.dim)),
    (snn.LogSoftmax, nn.LogSoftmax, lambda m: nn.LogSoftmax(m.dim), lambda m: snn.LogSoftmax(m.dim)),
    (snn.Identity, nn.Identity, lambda m: nn.Identity(), lambda m: snn.Identity()),
    (snn.Sequential, nn.Sequential,
     lambda m: nn.Sequential(*(_build_torch(c) for c in m.layers)),
     lambda m: snn.Sequential(*(_build_scratch(c) for c in m))),
    (snn.MSELoss, nn.MSELoss, lambda m: nn.MSELoss(reduction=m.reduction), lambda m: snn.MSELoss(m.reduction)),
    (snn.CrossEntropyLoss, nn.CrossEntropyLoss,
     lambda m: nn.CrossEntropyLoss(reduction=m.reduction, label_smoothing=m.label_smoothing),
     lambda m: snn.CrossEntropyLoss(m.reduction, m.label_smoothing)),
    (snn.NLLLoss, nn.NLLLoss, lambda m: nn.NLLLoss(reduction=m.reduction), lambda m: snn.NLLLoss(m.reduction)),
    (snn.BCEWithLogitsLoss, nn.BCEWithLogitsLoss,
     lambda m: nn.BCEWithLogitsLoss(reduction=m.reduction), lambda m: snn.BCEWithLogitsLoss(m.reduction)),
]
_TO_TORCH = {s: build for s, _, build, _ in _PAIRS}
_TO_SCRATCH = {t: build for _, t, _, build in _PAIRS}


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype)).dtype


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"scratch layers hold float32 or float64 weights; this torch layer holds {dtype}")
    return torch.empty(0, dtype=dtype).numpy().dtype


def _no_twin(module, known) -> TypeError:
    names = sorted(cls.__name__ for cls in known)
    return TypeError(
        f"{type(module).__module__}.{type(module).__name__} has no twin on the other side "
        f"(known layers: {', '.join(names)}); build the twin yourself and compare with torch_impl.parity.compare"
    )


def _build_torch(module: snn.Module) -> nn.Module:
    if type(module) not in _TO_TORCH:
        raise _no_twin(module, _TO_TORCH)
    return _TO_TORCH[type(module)](module)


def _build_scratch(module: nn.Module) -> snn.Module:
    if type(module) not in _TO_SCRATCH:
        raise _no_twin(module, _TO_SCRATCH)
    return _TO_SCRATCH[type(module)](module)


def to_torch(module: snn.Module) -> nn.Module:
    """The torch twin of a scratch model, holding exactly the same weights in the same dtype."""
    twin = _build_torch(module)
    copy_into_torch(module.state_dict(), twin)
    return twin


def to_scratch(module: nn.Module) -> snn.Module:
    """The scratch twin of a torch model, holding exactly the same weights in the same dtype."""
    twin = _build_scratch(module)
    twin.load_state_dict(to_numpy(module.state_dict()))
    return twin


def to_numpy(state_dict: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A torch state_dict as NumPy arrays (copied to the CPU, dtype kept)."""
    return {key: value.detach().cpu().numpy().copy() for key, value in state_dict.items()}


def copy_into_torch(state_dict: Mapping[str, np.ndarray], module: nn.Module) -> None:
    """Copy NumPy arrays into a torch module's parameters, refusing any key, shape or dtype mismatch."""
    target = module.state_dict()
    problems = [f"missing key '{k}'" for k in target if k not in state_dict]
    problems += [f"unexpected key '{k}'" for k in state_dict if k not in target]
    for key, array in state_dict.items():
        if key not in target:
            continue
        want = target[key]
        if tuple(array.shape) != tuple(want.shape):
            problems.append(f"'{key}' has shape {tuple(array.shape)}, the torch module expects {tuple(want.shape)}")
        elif _torch_dtype(array.dtype) != want.dtype:
            problems.append(f"'{key}' is {array.dtype}, the torch module holds {want.dtype}")
    if problems:
        raise ValueError(f"cannot copy weights into {type(module).__name__} (nothing was copied): " + "; ".join(problems))
    with torch.no_grad():
        for key, array in state_dict.items():
            target[key].copy_(torch.from_numpy(np.ascontiguousarray(array)))
