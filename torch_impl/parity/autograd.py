"""The autograd reference: the user's own NumPy forward run on torch arrays (torch._numpy), differentiated by autograd.

torch._numpy is torch's NumPy-compatible layer (the one torch.compile uses for NumPy code): its arrays wrap tensors,
so a forward written against `np` builds an autograd graph when `np` is rebound to it. Tested on the releases in
TESTED_TORCH; the layer exists since torch 2.1 and is private, so another one may lack a call (the error names it).
"""

from __future__ import annotations

import contextlib
import functools
import linecache
import sysconfig
import traceback
import types
import warnings
from pathlib import Path

import numpy as np
import torch

from .inputs import Leaf, rebuild, result_of
from .reach import borrowed
from .report import as_numpy

TESTED_TORCH = ("2.13", "2.14")  # torch releases the autograd reference was tested on; the README names them
PASSTHROUGH = {"errstate", "seterr", "geterr", "printoptions", "set_printoptions", "get_printoptions"}  # no arithmetic
OTHER_REFERENCES = ("use reference='numerical' (central differences in float64, slower), or reference=<a torch "
                    "function taking the same names>")


def torch_numpy():
    try:
        import torch._numpy as tnp
    except ImportError as error:
        raise RuntimeError(f"torch {torch.__version__} has no torch._numpy, which the autograd reference runs your "
                           f"NumPy forward on (tested on torch {', '.join(TESTED_TORCH)}); {OTHER_REFERENCES}") from error
    return tnp


class NumpyOnTorch(types.ModuleType):
    """What `np` means during the reference run: torch._numpy, plus NumPy's settings calls that do no arithmetic."""

    def __init__(self, tnp):
        super().__init__("numpy", "torch._numpy standing in for numpy (check_grads' autograd reference)")
        self._tnp = tnp

        self.maximum = functools.partial(_tie_free, tnp, tnp.maximum, torch.gt)
        self.minimum = functools.partial(_tie_free, tnp, tnp.minimum, torch.lt)

    def __getattr__(self, name: str):
        if hasattr(self._tnp, name):
            return getattr(self._tnp, name)
        if name in PASSTHROUGH:
            return getattr(np, name)
        raise AttributeError(f"np.{name} has no equivalent in torch._numpy")


def _as_data(tnp, array: np.ndarray):
    """A NumPy array the forward reads from its objects or closures (a batch, a mask), as a torch array without
    gradient: ndarray.dot(torch array) would otherwise return NumPy and drop the graph. Memory is shared."""
    if not array.flags.writeable:
        array = array.copy()
    return tnp.asarray(torch.from_numpy(array))


def _tie_free(tnp, op, wins, x1, x2, *args, **kwargs):
    """op(x1, x2) whose gradient goes to the strictly larger (smaller) side and, at a tie, to neither: ReLU written as
    np.maximum(x, 0) or np.maximum(0, x) then has torch's gradient at 0, which is 0 (torch.maximum splits a tie)."""
    value = op(x1, x2, *args, **kwargs)
    a, b = (x.tensor if hasattr(x, "tensor") else torch.as_tensor(x) for x in (x1, x2))
    if args or kwargs or not (a.requires_grad or b.requires_grad):
        return value
    t = value.tensor
    flowing = [torch.where(wins(p, q), p - p.detach(), 0).to(t.dtype) for p, q in ((a, b), (b, a)) if p.requires_grad]
    return tnp.asarray(t.detach() + sum(flowing))


@contextlib.contextmanager
def _numpy_defers(tnp):
    """A NumPy array or scalar meeting a torch array hands the operation over instead of silently dropping the graph
    (ndarray + torch-array would otherwise return a NumPy array without gradients)."""
    tnp.ndarray.__array_ufunc__ = None
    try:
        yield
    finally:
        del tnp.ndarray.__array_ufunc__


def autograd_reference(forward, arrays: dict, leaves: list[Leaf], accepted: set, kind: str, dout, wanted: set,
                       cast=None):
    """Run forward on torch arrays and differentiate it. Returns (values, grads): the forward's values (the loss or
    output, and every intermediate) and the reference gradient of each wanted name, all as NumPy arrays. `cast`
    maps each differentiable array first (rounding.py: nudged, or upcast to float64)."""
    tnp = torch_numpy()
    tensors, inputs = {}, {}
    for leaf in leaves:
        tensors[leaf.name] = _leaf_tensor(leaf, cast)
        inputs[leaf.name] = tensors[leaf.name] if leaf.is_torch else tnp.asarray(tensors[leaf.name])
    kwargs = rebuild(arrays, leaves, inputs)
    held = [leaf for leaf in leaves if leaf.key not in accepted]
    with borrowed([forward], {leaf.name: leaf.value for leaf in held}, {leaf.name: inputs[leaf.name] for leaf in held},
                  numpy_like=NumpyOnTorch(tnp), convert=functools.partial(_as_data, tnp), skip=[arrays]), \
            _numpy_defers(tnp), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Converting a tensor with requires_grad=True to a scalar")  # reported below
        try:
            out = forward(**{key: kwargs[key] for key in accepted})
        except Exception as error:
            raise RuntimeError(_explain(error)) from error
    return differentiate(result_of(out), kind, dout, leaves, tensors, wanted)


def torch_reference(reference, arrays: dict, leaves: list[Leaf], kind: str, dout, wanted: set, cast=None):
    """A torch function taking the same names, differentiated by autograd: returns (values, grads) as above."""
    tensors = {leaf.name: _leaf_tensor(leaf, cast) for leaf in leaves}
    try:
        out = reference(**rebuild(arrays, leaves, tensors))
    except TypeError as error:
        raise TypeError(f"the torch reference must take the names of arrays ({', '.join(arrays)}): {error}") from error
    return differentiate(result_of(out), kind, dout, leaves, tensors, wanted)


def _leaf_tensor(leaf: Leaf, cast=None) -> torch.Tensor:
    """The array as a torch tensor sharing its memory (the forward was seen not to write into its inputs), with a
    gradient when it is floating point; a differentiable array is mapped by `cast` first, into a copy."""
    if leaf.is_torch:
        t = leaf.value.detach()
    else:
        array = np.asarray(leaf.value)
        t = torch.from_numpy(array if array.flags.writeable else array.copy())
    if cast is not None and leaf.differentiable:
        t = torch.from_numpy(cast(t.cpu().numpy())).to(t.device)
    return t.requires_grad_(leaf.differentiable)


def differentiate(result, kind: str, dout, leaves: list[Leaf], tensors: dict, wanted: set):
    """Autograd on the reference run: (values, grads), NumPy arrays, for the value, each intermediate and each
    wanted name (an array unused by the forward gets a zero gradient)."""
    if result.kind != kind:
        raise RuntimeError(f"on torch arrays the forward returned {result.kind} where NumPy gave {kind}: {_DROPPED}")
    value = _tensor(result.value, "its value")
    named = {name: _tensor(v, f"intermediate '{name}'") if name in wanted else v
             for name, v in result.intermediates.items()}
    values = {"value": as_numpy(value), **{name: as_numpy(v) for name, v in named.items()}}
    targets = {leaf.name: tensors[leaf.name] for leaf in leaves if leaf.differentiable and leaf.name in wanted}
    targets.update({name: t for name, t in named.items() if name in wanted})
    if targets and not value.requires_grad:
        raise RuntimeError(f"on torch arrays the forward's value does not depend on any array given: {_DROPPED}")
    for name, t in targets.items():
        if not t.requires_grad:
            raise RuntimeError(f"intermediate '{name}' is not on the autograd graph: {_DROPPED}")
    grad_output = None if kind != "array" else torch.as_tensor(as_numpy(dout), dtype=value.dtype)
    found = torch.autograd.grad(value, list(targets.values()), grad_output, allow_unused=True) if targets else []
    grads = {name: as_numpy(g) if g is not None else np.zeros(tuple(t.shape), as_numpy(t.detach()).dtype)
             for (name, t), g in zip(targets.items(), found)}
    return values, grads


_DROPPED = ("the graph was dropped. A NumPy array or scalar computed outside forward, float(), .item(), "
            "or a call outside numpy (math, scipy) turns a torch array back into NumPy; " + OTHER_REFERENCES)


def _tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(getattr(value, "tensor", None), torch.Tensor):
        return value.tensor
    raise RuntimeError(f"on torch arrays the forward returned {what} as a {type(value).__name__}: {_DROPPED}")


def _explain(error: Exception) -> str:
    """Name the line of the user's code where the torch run failed, and offer the other references."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not _library_file(f.filename)]
    where = ""
    if frames:
        frame = frames[-1]
        source = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
        where = f" at {frame.filename}:{frame.lineno}" + (f": {source}" if source else "")
    hint = ""
    if isinstance(error, KeyError) and "numpy" in str(error):
        hint = f" A NumPy scalar ({error}) met a torch array: wrap it in float() or compute it inside forward."
    return (f"the autograd reference ran your forward on torch arrays (np rebound to torch._numpy, torch "
            f"{torch.__version__}) and a NumPy call failed{where}: {type(error).__name__}: {error}.{hint} This call "
            f"has no torch equivalent; {OTHER_REFERENCES}")


_LIBRARY_DIRS = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})
_HERE = str(Path(__file__).resolve().parent)


def _library_file(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS) or filename.startswith(_HERE)
