"""Weights across the boundary: build the torch twin of a scratch model and back, copying every value bit for bit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

import scratch.nn as snn
from scratch.sequence import SequenceModel

from .sequence import SequenceModel as TorchSequenceModel

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
    (snn.ELU, nn.ELU, lambda m: nn.ELU(m.alpha), lambda m: snn.ELU(m.alpha)),
    (snn.SiLU, nn.SiLU, lambda m: nn.SiLU(), lambda m: snn.SiLU()),
    (snn.Softplus, nn.Softplus, lambda m: nn.Softplus(m.beta, m.threshold), lambda m: snn.Softplus(m.beta, m.threshold)),
    (snn.Hardtanh, nn.Hardtanh, lambda m: nn.Hardtanh(m.min_val, m.max_val), lambda m: snn.Hardtanh(m.min_val, m.max_val)),
    (snn.Embedding, nn.Embedding,
     lambda m: nn.Embedding(m.num_embeddings, m.embedding_dim, m.padding_idx, dtype=_torch_dtype(m.weight.dtype)),
     lambda m: _embedding(m)),
    (snn.LayerNorm, nn.LayerNorm,
     lambda m: nn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine, m.bias is not None, dtype=_dtype_of(m)),
     lambda m: snn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine, m.bias is not None,
                             dtype=_dtype_of(m))),
    (snn.GroupNorm, nn.GroupNorm,
     lambda m: nn.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine, dtype=_dtype_of(m)),
     lambda m: _group_norm(m)),
    (snn.RNN, nn.RNN, lambda m: _recurrent(nn.RNN, m), lambda m: _recurrent(snn.RNN, m)),
    (snn.LSTM, nn.LSTM, lambda m: _recurrent(nn.LSTM, m), lambda m: _recurrent(snn.LSTM, m)),
    (snn.GRU, nn.GRU, lambda m: _recurrent(nn.GRU, m), lambda m: _recurrent(snn.GRU, m)),
    (SequenceModel, TorchSequenceModel,
     lambda m: TorchSequenceModel(_build_torch(m.rnn), _build_torch(m.head)),
     lambda m: SequenceModel(_build_scratch(m.rnn), _build_scratch(m.head))),
    (snn.Conv2d, nn.Conv2d,
     lambda m: nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=m.bias is not None,
                         dtype=_torch_dtype(m.weight.dtype)),
     lambda m: snn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, _padding(m),
                          bias=m.bias is not None, dtype=_numpy_dtype(m.weight.dtype))),
    (snn.MaxPool2d, nn.MaxPool2d, lambda m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding), lambda m: _pool(m)),
    (snn.AvgPool2d, nn.AvgPool2d, lambda m: nn.AvgPool2d(m.kernel_size, m.stride, m.padding), lambda m: _pool(m)),
    (snn.Flatten, nn.Flatten, lambda m: nn.Flatten(m.start_dim, m.end_dim), lambda m: snn.Flatten(m.start_dim, m.end_dim)),
    (snn.Unflatten, nn.Unflatten, lambda m: nn.Unflatten(m.dim, m.unflattened_size),
     lambda m: snn.Unflatten(m.dim, m.unflattened_size)),
    (snn.Dropout, nn.Dropout, lambda m: nn.Dropout(m.p), lambda m: snn.Dropout(m.p)),
    (snn.BatchNorm1d, nn.BatchNorm1d, lambda m: _batch_norm(nn.BatchNorm1d, m), lambda m: _batch_norm(snn.BatchNorm1d, m)),
    (snn.BatchNorm2d, nn.BatchNorm2d, lambda m: _batch_norm(nn.BatchNorm2d, m), lambda m: _batch_norm(snn.BatchNorm2d, m)),
    (snn.Sequential, nn.Sequential,
     lambda m: nn.Sequential(*(_build_torch(c) for c in m.layers)),
     lambda m: snn.Sequential(*(_build_scratch(c) for c in m))),
    (snn.MSELoss, nn.MSELoss, lambda m: nn.MSELoss(reduction=m.reduction), lambda m: snn.MSELoss(reduction=m.reduction)),
    (snn.CrossEntropyLoss, nn.CrossEntropyLoss,
     lambda m: nn.CrossEntropyLoss(reduction=m.reduction, label_smoothing=m.label_smoothing),
     lambda m: snn.CrossEntropyLoss(reduction=m.reduction, label_smoothing=m.label_smoothing)),
    (snn.NLLLoss, nn.NLLLoss, lambda m: nn.NLLLoss(reduction=m.reduction), lambda m: snn.NLLLoss(reduction=m.reduction)),
    (snn.BCEWithLogitsLoss, nn.BCEWithLogitsLoss,
     lambda m: nn.BCEWithLogitsLoss(reduction=m.reduction), lambda m: snn.BCEWithLogitsLoss(reduction=m.reduction)),
]
_TO_TORCH = {s: build for s, _, build, _ in _PAIRS}
_TO_SCRATCH = {t: build for _, t, _, build in _PAIRS}


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype)).dtype


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"scratch layers hold float32 or float64 weights; this torch layer holds {dtype}")
    return torch.empty(0, dtype=dtype).numpy().dtype


def _padding(conv: nn.Conv2d):
    if isinstance(conv.padding, str) or conv.padding_mode != "zeros" or conv.dilation != (1, 1) or conv.groups != 1:
        raise TypeError("scratch.nn.Conv2d has numeric zero padding, no dilation and no groups; "
                        f"this layer is {conv}")
    return conv.padding


def _pool(pool: nn.Module) -> snn.Module:
    if getattr(pool, "ceil_mode", False) or getattr(pool, "dilation", 1) not in (1, (1, 1)):
        raise TypeError(f"scratch pooling has no ceil_mode and no dilation; this layer is {pool}")
    if not getattr(pool, "count_include_pad", True) or getattr(pool, "divisor_override", None):
        raise TypeError(f"scratch.nn.AvgPool2d always counts the padding; this layer is {pool}")
    return (snn.MaxPool2d if isinstance(pool, nn.MaxPool2d) else snn.AvgPool2d)(pool.kernel_size, pool.stride,
                                                                                pool.padding)


def _batch_norm(cls, m):
    """The twin of a batch norm layer, built on either side from the other's settings."""
    if isinstance(m, nn.Module):
        if m.momentum is None or not m.track_running_stats:
            raise TypeError(f"scratch batch norm needs a numeric momentum and running statistics; this layer is {m}")
        return cls(m.num_features, m.eps, m.momentum, m.affine, dtype=_numpy_dtype(m.running_mean.dtype))
    return cls(m.num_features, m.eps, m.momentum, m.weight is not None, dtype=_torch_dtype(m.running_mean.dtype))


def _dtype_of(m):
    """The dtype of the other side's weights, for a layer whose parameters are optional (float32 without any)."""
    weight = m.weight
    if weight is None:
        return np.float32 if isinstance(m, nn.Module) else torch.float32
    return _numpy_dtype(weight.dtype) if isinstance(m, nn.Module) else _torch_dtype(weight.dtype)


def _embedding(m: nn.Embedding) -> snn.Embedding:
    if m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
        raise TypeError(f"scratch.nn.Embedding has no max_norm, scale_grad_by_freq or sparse; this layer is {m}")
    return snn.Embedding(m.num_embeddings, m.embedding_dim, m.padding_idx, dtype=_numpy_dtype(m.weight.dtype))


def _group_norm(m: nn.GroupNorm) -> snn.GroupNorm:
    if m.affine and m.bias is None:
        raise TypeError(f"scratch.nn.GroupNorm has a bias whenever it is affine; this layer is {m}")
    return snn.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine, dtype=_dtype_of(m))


def _recurrent(cls, m):
    """The twin of an RNN, LSTM or GRU, built on either side from the other's settings."""
    settings = {"num_layers": m.num_layers, "bias": m.bias, "batch_first": m.batch_first}
    if isinstance(m, (snn.RNN, nn.RNN)):
        settings["nonlinearity"] = m.nonlinearity
    if isinstance(m, nn.Module):
        if m.bidirectional or m.dropout or getattr(m, "proj_size", 0):
            raise TypeError(f"scratch recurrent layers have no bidirectional, dropout or proj_size; this layer is {m}")
        return cls(m.input_size, m.hidden_size, **settings, dtype=_numpy_dtype(m.weight_ih_l0.dtype))
    return cls(m.input_size, m.hidden_size, **settings, dtype=_torch_dtype(m.weight_ih_l0.dtype))


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
    _copy_modes(module, twin)
    return twin


def to_scratch(module: nn.Module) -> snn.Module:
    """The scratch twin of a torch model, holding exactly the same weights in the same dtype."""
    twin = _build_scratch(module)
    twin.load_state_dict(to_numpy(module.state_dict()))
    _copy_modes(module, twin)
    return twin


def _copy_modes(source, twin) -> None:
    """Put every layer of the twin in its source's train or eval mode."""
    modes = {name: m.training for name, m in source.named_modules()}
    for name, m in twin.named_modules():
        m.training = modes[name]


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
            target[key].copy_(torch.from_numpy(np.array(array)))  # np.array keeps 0-d buffers 0-d
