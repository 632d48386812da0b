"""MNIST and Fashion-MNIST from IDX files (raw or gzip, torchvision's layout), read and validated with NumPy only."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

# dataset name -> torchvision folder, per-pixel mean and std of the training images (scaled to [0, 1]), classes
DATASETS = {
    "mnist": ("MNIST", 0.1307, 0.3081, [str(d) for d in range(10)]),
    "fashion_mnist": (
        "FashionMNIST", 0.2860, 0.3530,
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetError(Exception):
    """A dataset file is missing or malformed; the message names the file and what to do."""


class MissingDataError(DatasetError, FileNotFoundError):
    pass


class CorruptDataError(DatasetError, ValueError):
    pass


def default_data_dir() -> Path:
    """The folder holding MNIST/ and FashionMNIST/: $MLP_PARITY_DATA when set, else ./data."""
    return Path(os.environ.get("MLP_PARITY_DATA") or "data")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip when the name ends in .gz), checking magic number, dimensions and length."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as err:
        raise MissingDataError(f"{path}: no such file; check the path, or the data folder you gave") from err
    except (OSError, EOFError) as err:  # gzip raises these for damaged archives
        raise CorruptDataError(f"{path}: cannot be read ({err}); delete it and fetch it again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or not 1 <= raw[3] <= 4:
        raise CorruptDataError(
            f"{path}: not an IDX file (expected a magic number 00 00 <type> <ndim>, got {raw[:4].hex(' ') or 'nothing'})"
        )
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDataError(f"{path}: truncated header ({len(raw)} bytes, expected {header}); delete it and fetch it again")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # exact: np.prod would overflow on a damaged header
    if len(raw) != expected:
        raise CorruptDataError(
            f"{path}: {len(raw)} bytes, but its header {shape} of {dtype} needs {expected}; "
            "the file is truncated or damaged: delete it and fetch it again"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def raw_folder(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
    return Path(data_dir if data_dir is not None else default_data_dir()) / DATASETS[dataset][0] / "raw"


def missing_files(dataset: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The IDX files of `dataset` that are not present (neither raw nor .gz)."""
    folder = raw_folder(dataset, data_dir)
    names = [name for pair in FILES.values() for name in pair]
    return [folder / name for name in names if find_file(folder, name) is None]


def missing_message(dataset: str, missing: list[Path]) -> str:
    folder = missing[0].parent
    return (
        f"{dataset} data not found: looked in {folder} for "
        + ", ".join(p.name + "[.gz]" for p in missing)
        + f". Put the four IDX files there (torchvision's layout: <data_dir>/{DATASETS[dataset][0]}/raw/), "
        "point MLP_PARITY_DATA (or the script's data folder option) at the folder that holds them, "
        "or run once where torchvision can download them."
    )


def load(dataset: str = "mnist", split: str = "train", data_dir: str | os.PathLike | None = None):
    """Return (images uint8 (N, 28, 28), labels int64 (N,)) for split 'train' or 'test'."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    missing = missing_files(dataset, data_dir)
    if missing:
        raise MissingDataError(missing_message(dataset, missing))
    folder = raw_folder(dataset, data_dir)
    image_path, label_path = (find_file(folder, name) for name in FILES[split])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CorruptDataError(
            f"{image_path} holds {images.shape} and {label_path} holds {labels.shape}; "
            "expected (N, rows, cols) images and (N,) labels of the same N"
        )
    n_classes = len(DATASETS[dataset][3])
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise CorruptDataError(
            f"{label_path}: labels run from {labels.min()} to {labels.max()}, but {dataset} has classes 0 to "
            f"{n_classes - 1}; the file is damaged: delete it and fetch it again"
        )
    return images, labels.astype(np.int64)


def normalize(images: np.ndarray, dataset: str, dtype=np.float32) -> np.ndarray:
    """uint8 (N, 28, 28) -> float (N, 784), scaled to [0, 1] and standardised with the dataset's statistics."""
    _, mean, std, _ = DATASETS[dataset]
    x = images.reshape(len(images), -1).astype(dtype) / 255
    return (x - np.asarray(mean, dtype)) / np.asarray(std, dtype)
