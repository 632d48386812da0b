"""Weights as files across the boundary: Lightning .ckpt and torch .pt state_dicts to NumPy .npz and back, bit for bit."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

import scratch
from scratch.io import atomic_write, check_output, save_npz
from scratch.models import ModelSpec, build

from .convert import to_numpy

LIGHTNING_PREFIX = "model."  # LitClassifier keeps its backbone as self.model
TORCH_SUFFIXES = (".pt", ".pth")
NUMERIC = "biufc"  # NumPy dtype kinds a weights file may hold: bool, integers, floats, complex
_LINEAR_WEIGHT = re.compile(r"(\d+)\.weight")


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable or not what its name says; the message names it and what to do."""


def load_torch_file(path: Path):
    """torch.load that never runs code from the file (weights_only) and maps everything to the CPU."""
    if not path.is_file():
        raise WeightsFileError(f"{path}: no such file; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or foreign file fails deep in the unpickler, with any kind of error
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsFileError(
            f"{path}: cannot be read as a torch file ({reason}); expected a file written by torch.save or by "
            "Lightning, holding tensors and plain Python values only"
        ) from err


def _tensor_state(obj, path: Path, what: str) -> dict[str, np.ndarray]:
    """A mapping of names to tensors as NumPy arrays, refusing anything else."""
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsFileError(f"{path}: expected {what} (a non-empty mapping of names to tensors), "
                               f"got {type(obj).__name__}")
    bad = [str(key) for key, value in obj.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise WeightsFileError(f"{path}: expected {what}, but these entries are not tensors named by strings: {bad}")
    arrays = {}
    for key, value in obj.items():
        try:
            arrays.update(to_numpy({key: value}))
        except (TypeError, RuntimeError) as err:
            raise WeightsFileError(f"{path}: '{key}' is {value.dtype}, which NumPy cannot hold ({err}); convert it "
                                   "to float32 or float64 in torch first") from err
    return arrays


def _checkpoint(path: Path) -> tuple[dict[str, np.ndarray], Mapping]:
    """The backbone weights of a Lightning checkpoint, still prefixed, and the whole checkpoint."""
    checkpoint = load_torch_file(path)
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        found = sorted(map(str, checkpoint))[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise WeightsFileError(f"{path}: not a Lightning checkpoint (expected a dict with a 'state_dict' entry, "
                               f"found {found}); pass a .ckpt written by Trainer.fit or ModelCheckpoint")
    return _tensor_state(checkpoint["state_dict"], path, "a Lightning state_dict"), checkpoint


def _strip(state: dict[str, np.ndarray], path: Path, prefix: str) -> dict[str, np.ndarray]:
    outside = [key for key in state if not key.startswith(prefix)]
    if outside:
        raise WeightsFileError(f"{path}: the state_dict holds keys outside the backbone {prefix!r}: {outside}; "
                               "expected a LitClassifier checkpoint, whose only weights are self.model's")
    return {key[len(prefix):]: value for key, value in state.items()}


def load_checkpoint(path: str | os.PathLike, prefix: str = LIGHTNING_PREFIX) -> tuple[dict[str, np.ndarray], dict]:
    """The backbone weights of a Lightning checkpoint with `prefix` stripped, as NumPy arrays, and its hyperparameters."""
    path = Path(path)
    state, checkpoint = _checkpoint(path)
    hparams = checkpoint.get("hyper_parameters") or {}
    if not isinstance(hparams, Mapping):
        raise WeightsFileError(f"{path}: its hyper_parameters are {type(hparams).__name__} {hparams!r:.80}, expected "
                               "a mapping of names to values as LightningModule.save_hyperparameters writes it")
    return _strip(state, path, prefix), dict(hparams)


def weights_dtype(state: Mapping[str, np.ndarray]) -> type:
    """The one float dtype of a state_dict's weights (batch norm's integer step counters aside)."""
    dtypes = {np.dtype(value.dtype) for key, value in state.items() if not key.endswith("num_batches_tracked")}
    if len(dtypes) != 1 or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
        raise ValueError(f"expected every array in float32, or every one in float64, got {sorted(map(str, dtypes))}")
    return dtypes.pop().type


def model_from_state_dict(state: Mapping[str, np.ndarray], activation: str = "relu") -> scratch.Module:
    """A `scratch.mlp` holding exactly these weights; its widths are read from the Linear weights' shapes."""
    layers = sorted(int(m.group(1)) for key in state if (m := _LINEAR_WEIGHT.fullmatch(key)))
    if not layers:
        raise ValueError(f"no Linear weights ('0.weight', '2.weight', ...) among the keys {sorted(state)}; "
                         "expected the state_dict of an mlp built by scratch.mlp or torch_impl.mlp")
    dtype = weights_dtype(state)
    weights = [np.shape(state[f"{i}.weight"]) for i in layers]
    sizes = [weights[0][-1]] + [shape[0] for shape in weights]
    model = scratch.mlp(sizes, activation, dtype=dtype)
    model.load_state_dict(state)  # strict: names missing or unexpected keys and wrong shapes, loads nothing then
    return model


def scratch_from_checkpoint(path: str | os.PathLike) -> scratch.Module:
    """The NumPy twin of a LitClassifier checkpoint (MLP or CNN), built from its hyperparameters, same weights."""
    state, hparams = load_checkpoint(path)
    try:
        model = build(ModelSpec.from_dict(hparams.get("spec", hparams)), dtype=weights_dtype(state))
        model.load_state_dict(state)  # strict: names missing or unexpected keys and wrong shapes, loads nothing then
    except ValueError as err:
        raise WeightsFileError(f"{path}: cannot build the NumPy model its hyperparameters describe: {err}") from err
    return model.eval()


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an .npz file, in the order they were saved (pickled objects are refused)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"{path}: no such file; check the path")
    try:
        arrays = np.load(path, allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):
            raise WeightsFileError(f"{path}: holds a single array, expected an .npz of named arrays")
        with arrays:
            state = {key: arrays[key] for key in arrays.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        if isinstance(err, WeightsFileError):
            raise
        raise WeightsFileError(f"{path}: cannot be read as an .npz file ({err}); expected one written by "
                               "numpy.savez or scratch.io.save_npz") from err
    if not state:
        raise WeightsFileError(f"{path}: holds no arrays; expected the named weights of a model")
    odd = {key: str(value.dtype) for key, value in state.items() if value.dtype.kind not in NUMERIC}
    if odd:
        key, dtype = next(iter(odd.items()))
        raise WeightsFileError(f"{path}: '{key}' holds {dtype} values, expected numbers (as weights are)")
    return state


def read_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state_dict as NumPy arrays from an .npz, a torch .pt/.pth state_dict, or a Lightning .ckpt backbone."""
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".ckpt":
        return _strip(_checkpoint(path)[0], path, LIGHTNING_PREFIX)  # hyperparameters are not needed here
    if path.suffix in TORCH_SUFFIXES:
        return _tensor_state(load_torch_file(path), path, "a torch state_dict")
    raise WeightsFileError(f"{path}: unknown kind of weights file; expected a name ending in .npz, .ckpt, .pt or .pth")


def check_destination(path: str | os.PathLike) -> Path:
    """A weights file can be written at `path`: a known suffix, a writable place; checked before any reading."""
    path = Path(path)
    if path.suffix != ".npz" and path.suffix not in TORCH_SUFFIXES:
        raise WeightsFileError(f"{path}: cannot write this kind of file; give a name ending in .npz, .pt or .pth")
    return check_output(path)


def write_weights(path: str | os.PathLike, state: Mapping[str, np.ndarray]) -> Path:
    """Write a state_dict atomically: .npz with NumPy, .pt/.pth with torch.save (tensors on the CPU, dtypes kept)."""
    path = check_destination(path)
    if path.suffix == ".npz":
        return save_npz(path, dict(state))
    tensors = {key: torch.from_numpy(np.array(value)) for key, value in state.items()}  # 0-d buffers stay 0-d
    return atomic_write(path, lambda f: torch.save(tensors, f))


def convert(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy the weights of `src` (.npz, .pt, .pth, .ckpt) into `dst` (.npz, .pt, .pth), bit for bit."""
    check_destination(dst)
    return write_weights(dst, read_weights(src))
