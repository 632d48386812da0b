"""Every scratch twin against torch's own constructor: the same names, order and defaults, beside the documented
deliberate differences; and `to_torch` builds exactly what torch's constructor builds from the same arguments.

The tables are driven by `scratch.nn` and `scratch.optim`: a class added there is compared with its torch namesake
without a change here, and the to_torch check asks for one row of non-default arguments per new layer.
"""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest
import torch
from torch import nn

import scratch.nn as snn
from scratch import optim as soptim
from torch_impl import to_torch

# Parameters only scratch has.
SCRATCH_ONLY = {
    "rng": "weights and dropout masks come from this numpy.random.Generator (or seed), torch's from its global one",
}
# Parameters only torch has: features scratch does not implement, so they cannot be asked of it by mistake.
# "Class.name" entries hold for that class only.
TORCH_ONLY = {
    "device": "NumPy arrays live in host memory",
    "inplace": "scratch never overwrites its input",
    "weight": "class weights are not implemented",
    "pos_weight": "positive-class weights are not implemented",
    "size_average": "deprecated by torch in favour of reduction",
    "reduce": "deprecated by torch in favour of reduction",
    "ignore_index": "every target is a class",
    "dilation": "no dilated convolution or pooling",
    "groups": "no grouped convolution",
    "padding_mode": "zero padding only",
    "return_indices": "max pooling returns values only",
    "ceil_mode": "pooling windows never overhang the input",
    "count_include_pad": "average pooling always counts the padding (torch's default)",
    "divisor_override": "average pooling divides by the window size",
    "track_running_stats": "batch norm always tracks running statistics",
    "BatchNorm1d.bias": "torch's keyword-only switch for the shift alone; scratch's affine covers weight and bias",
    "BatchNorm2d.bias": "torch's keyword-only switch for the shift alone; scratch's affine covers weight and bias",
    "GroupNorm.bias": "torch's keyword-only switch for the shift alone; scratch's affine covers weight and bias",
    "Identity.args": "torch's Identity accepts any arguments and ignores them",
    "Identity.kwargs": "torch's Identity accepts any arguments and ignores them",
    "Hardtanh.min_value": "torch's deprecated alias of min_val",
    "Hardtanh.max_value": "torch's deprecated alias of max_val",
    "Embedding.max_norm": "looked-up rows are never renormalised",
    "Embedding.norm_type": "the norm of max_norm, which is not implemented",
    "Embedding.scale_grad_by_freq": "the weight gradient is never scaled by how often an id occurs in the batch",
    "Embedding.sparse": "the weight gradient is a dense array",
    "Embedding._weight": "torch's private initial weight; load_state_dict sets the weight",
    "Embedding._freeze": "torch's private switch behind from_pretrained(freeze=True); every Parameter is trained",
    "dropout": "recurrent layers apply no dropout between their layers",
    "bidirectional": "recurrent layers run forward in time only",
    "proj_size": "the LSTM has no projection of its hidden state",
    "maximize": "optimizers minimise",
    "foreach": "a torch implementation switch, no effect on the result",
    "fused": "a torch implementation switch, no effect on the result",
    "capturable": "a torch implementation switch for CUDA graphs",
    "differentiable": "no autograd through the optimizer step",
    "Adam.decoupled_weight_decay": "AdamW is the decoupled variant, as a class of its own",
}
# Defaults that differ on purpose: name or "Class.name" -> (scratch's, torch's).
DEFAULTS = {
    # torch's None means its default dtype, float32; NumPy has no global default dtype to fall back on
    "dtype": (np.float32, None),
    # torch's None picks a dim from the input's number of dims (with a deprecation warning); scratch takes the last,
    # which is what torch's rule picks for the (N, C) inputs of a classifier
    "Softmax.dim": (-1, None),
    "LogSoftmax.dim": (-1, None),
}
# Parameters scratch takes by position at another place than torch: torch's `device` (or `inplace`) comes first.
# Pass them by keyword.
OTHER_POSITION = {"dtype", "rng"}


def namesakes(module, torch_module, base: type) -> list[tuple[type, type | None]]:
    """(scratch class, torch class of the same name or None) for every subclass of `base` that `module` exports."""
    classes = [getattr(module, name) for name in dir(module) if not name.startswith("_")]
    return [(cls, getattr(torch_module, cls.__name__, None)) for cls in classes
            if isinstance(cls, type) and issubclass(cls, base) and cls is not base]


LAYERS = namesakes(snn, nn, snn.Module)
OPTIMIZERS = namesakes(soptim, torch.optim, soptim.Optimizer)


def parameters(cls: type) -> list[inspect.Parameter]:
    """The constructor's parameters after self; none when the class inherits a constructor that takes none. torch's
    RNN, LSTM and GRU take (*args, **kwargs) and document their parameters in a typed overload: that one is used."""
    if cls.__init__ in (object.__init__, nn.Module.__init__):
        return []
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if [p.kind for p in params] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        documented = [list(inspect.signature(overload).parameters.values())[1:]
                      for overload in typing.get_overloads(cls.__init__)]
        params = next((ps for ps in documented if ps and ps[0].kind == ps[0].POSITIONAL_OR_KEYWORD), params)
    return params


def entry(table: dict, cls: type, name: str):
    return table.get(f"{cls.__name__}.{name}", table.get(name))


def test_every_scratch_class_has_a_torch_namesake():
    missing = [cls.__name__ for cls, twin in LAYERS + OPTIMIZERS if twin is None]
    assert not missing, f"no torch class of the same name: {missing}"


@pytest.mark.parametrize("cls, twin", LAYERS + OPTIMIZERS, ids=lambda c: getattr(c, "__name__", "-"))
def test_constructor_matches_torch(cls, twin):
    ours, theirs = parameters(cls), parameters(twin)
    by_name = {p.name: p for p in theirs}
    positions = {p.name: i for i, p in enumerate(theirs)}
    problems = []
    for i, p in enumerate(ours):
        if p.name in SCRATCH_ONLY:
            continue
        if p.kind == p.VAR_POSITIONAL:  # *layers and *args: only the kind can be seen by a caller
            if not any(t.kind == t.VAR_POSITIONAL for t in theirs):
                problems.append(f"*{p.name}: torch takes no variable positional arguments")
            continue
        if p.name not in by_name:
            problems.append(f"{p.name}: torch has no such parameter")
            continue
        t = by_name[p.name]
        positional = p.kind == p.POSITIONAL_OR_KEYWORD
        if positional and p.name not in OTHER_POSITION and (i != positions[p.name] or t.kind != t.POSITIONAL_OR_KEYWORD):
            problems.append(f"{p.name}: argument {i} here, {positions[p.name]} ({t.kind.description}) in torch")
        expected = entry(DEFAULTS, cls, p.name)
        wanted = (p.default, t.default) if expected is None else expected
        if (p.default, t.default) != wanted or (expected is None and p.default != t.default):
            problems.append(f"{p.name}: default {p.default!r} here, {t.default!r} in torch")
    named = [p.name for p in ours if p.name in by_name]
    if named != sorted(named, key=positions.get):
        problems.append(f"order {named} differs from torch's {[t.name for t in theirs if t.name in named]}")
    for t in theirs:
        if t.name not in {p.name for p in ours} and t.kind != t.VAR_POSITIONAL and not entry(TORCH_ONLY, cls, t.name):
            problems.append(f"{t.name}: only torch has it, and it is not among the documented differences")
    assert not problems, f"{cls.__name__} against torch's {twin.__module__}.{twin.__name__}: " + "; ".join(problems)


def test_every_documented_difference_is_still_needed():
    """A difference that no longer exists is taken off the lists, so they stay the truth."""
    pairs = LAYERS + OPTIMIZERS
    ours = {(cls.__name__, p.name) for cls, _ in pairs for p in parameters(cls)}
    theirs = {(cls.__name__, t.name) for cls, twin in pairs for t in parameters(twin)}
    only_theirs = {name for _, name in theirs - ours} | {f"{c}.{n}" for c, n in theirs - ours}
    assert set(TORCH_ONLY) <= only_theirs, sorted(set(TORCH_ONLY) - only_theirs)
    assert set(SCRATCH_ONLY) <= {name for _, name in ours - theirs}
    assert all(any(f"{c}.{n}" == key or n == key for c, n in ours) for key in DEFAULTS)


# Non-default arguments for every layer, the same on both sides; the twin to_torch builds must equal torch's own.
BUILT = {
    "Linear": ((5, 3), {"bias": False}),
    "ReLU": ((), {}),
    "LeakyReLU": ((0.3,), {}),
    "Sigmoid": ((), {}),
    "Tanh": ((), {}),
    "GELU": (("tanh",), {}),
    "Softmax": ((0,), {}),
    "LogSoftmax": ((0,), {}),
    "Identity": ((), {}),
    "Conv2d": ((2, 4, 3, 2, 1), {"bias": False}),
    "MaxPool2d": (((3, 3), (2, 2), (1, 1)), {}),  # pairs: torch's pooling keeps an int as given, scratch pairs it
    "AvgPool2d": (((3, 2), (2, 1), (1, 0)), {}),
    "Flatten": ((0, 1), {}),
    "Unflatten": ((1, (2, 3)), {}),
    "Dropout": ((0.3,), {}),
    "BatchNorm1d": ((4, 1e-3, 0.3, False), {}),
    "BatchNorm2d": ((4,), {"eps": 1e-3, "momentum": 0.3}),
    "Sequential": ((), {}),
    "ELU": ((0.5,), {}),
    "SiLU": ((), {}),
    "Softplus": ((2.0, 10.0), {}),
    "Hardtanh": ((-2.0, 3.0), {}),
    "Embedding": ((7, 3), {"padding_idx": -2}),  # torch keeps the padding row as 5
    "LayerNorm": (((3, 4),), {"eps": 1e-3, "bias": False}),
    "GroupNorm": ((2, 6, 1e-3, False), {}),
    "RNN": ((3, 4, 2, "relu"), {"bias": False, "batch_first": True}),
    "LSTM": ((3, 4, 2), {"bias": False, "batch_first": True}),
    "GRU": ((3, 4), {"num_layers": 2, "batch_first": True}),
    "MSELoss": ((), {"reduction": "sum"}),
    "CrossEntropyLoss": ((), {"reduction": "sum", "label_smoothing": 0.2}),
    "NLLLoss": ((), {"reduction": "sum"}),
    "BCEWithLogitsLoss": ((), {"reduction": "sum"}),
}


def settings(module: nn.Module) -> dict:
    """A torch module's settings (its public attributes) and the shape and dtype of every tensor it holds."""
    public = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    tensors = {k: (tuple(v.shape), v.dtype) for k, v in module.state_dict().items()}
    return {"type": type(module), **public, **tensors}


def test_every_layer_has_a_row_of_non_default_arguments():
    assert sorted(BUILT) == sorted(cls.__name__ for cls, _ in LAYERS)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_to_torch_builds_what_torchs_constructor_builds(name):
    args, kwargs = BUILT[name]
    twin = to_torch(getattr(snn, name)(*args, **kwargs))
    assert settings(twin) == settings(getattr(nn, name)(*args, **kwargs))
