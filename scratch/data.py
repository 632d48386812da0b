"""MNIST and Fashion-MNIST from IDX files (raw or gzip, torchvision's layout), read and validated with NumPy only."""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
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
TRAIN_SIZE = 60_000  # images in the training split of either dataset
IMAGE_SHAPE = (28, 28)  # rows, cols of every image in both datasets
DAMAGED = "the file is truncated or damaged: delete it and fetch it again"
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
    """Read one IDX file (gzip when the name ends in .gz): the header first, then exactly the data it declares.

    A file holding more or less than its header declares is refused, without reading past the declared size, so a
    damaged or hostile file never takes more memory than its own header claims.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            return _read_idx(f, path)
    except FileNotFoundError as err:
        raise MissingDataError(f"{path}: no such file; check the path, or the data folder you gave") from err
    except (OSError, EOFError, zlib.error) as err:  # gzip raises these for damaged archives
        raise CorruptDataError(f"{path}: cannot be read ({err}); {DAMAGED}") from err


def _read_idx(f, path: Path) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or not 1 <= magic[3] <= 4:
        raise CorruptDataError(f"{path}: not an IDX file (expected a magic number 00 00 <type> <ndim>, got "
                               f"{magic.hex(' ') or 'nothing'}); {DAMAGED}")
    dtype, ndim = np.dtype(_IDX_DTYPES[magic[2]]), magic[3]
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise CorruptDataError(f"{path}: truncated header ({4 + len(dims)} bytes, expected {4 + 4 * ndim}); {DAMAGED}")
    shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
    size = math.prod(shape) * dtype.itemsize  # exact: np.prod would overflow on a damaged header
    header = 4 + 4 * ndim
    if isinstance(f, io.BufferedReader):  # a raw file: its length is known before reading any of it
        length = os.fstat(f.fileno()).st_size
        if length != header + size:
            raise CorruptDataError(f"{path}: {length} bytes, but its header {shape} of {dtype} needs {header + size}; "
                                   f"{DAMAGED}")
    try:
        buffer = np.empty(size, np.uint8)
    except (MemoryError, ValueError) as err:
        raise CorruptDataError(f"{path}: its header {shape} of {dtype} declares {size} bytes, more than this machine "
                               f"can hold; {DAMAGED}") from err
    filled = _read_into(f, memoryview(buffer))
    if filled < size:
        raise CorruptDataError(f"{path}: {header + filled} bytes, but its header {shape} of {dtype} needs "
                               f"{header + size}; {DAMAGED}")
    if f.read(1):
        raise CorruptDataError(f"{path}: longer than its header {shape} of {dtype} declares ({header + size} bytes); "
                               f"{DAMAGED}")
    return buffer.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_into(f, view: memoryview, chunk: int = 1 << 16) -> int:
    """Fill `view` from `f`, a raw file directly, a gzip file a small chunk at a time (its readinto would copy the
    whole request once more); returns the number of bytes read."""
    filled = 0
    while filled < len(view):
        if isinstance(f, io.BufferedReader):
            count = f.readinto(view[filled:])
        else:
            data = f.read(min(chunk, len(view) - filled))
            count = len(data)
            view[filled : filled + count] = data
        if not count:
            break
        filled += count
    return filled


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
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise CorruptDataError(f"{image_path} holds {images.shape} {images.dtype} values; expected uint8 images "
                               f"(N, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}) as {dataset} has them; {DAMAGED}")
    if labels.ndim != 1 or len(images) != len(labels):
        raise CorruptDataError(
            f"{image_path} holds {images.shape} and {label_path} holds {labels.shape}; "
            "expected (N, rows, cols) images and (N,) labels of the same N"
        )
    if not len(labels):
        raise CorruptDataError(f"{image_path} holds no images; {DAMAGED}")
    n_classes = len(DATASETS[dataset][3])
    if labels.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
        if bad.size:
            raise CorruptDataError(f"{label_path}: label {bad[0]} is {labels[bad[0]]}; expected whole class numbers "
                                   f"0 to {n_classes - 1}; {DAMAGED}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise CorruptDataError(
            f"{label_path}: labels run from {labels.min()} to {labels.max()}, but {dataset} has classes 0 to "
            f"{n_classes - 1}; {DAMAGED}"
        )
    return images, labels.astype(np.int64)


def check_model_fits(dataset: str, sizes: list[int], model: str = "mlp", option: str = "--sizes") -> None:
    """Refuse widths that cannot take this dataset's images in or give one output per class."""
    pixels, n_classes = IMAGE_SHAPE[0] * IMAGE_SHAPE[1], len(DATASETS[dataset][3])
    if model == "mlp" and sizes[0] != pixels:
        raise ValueError(f"{option} starts with {sizes[0]} inputs, but {dataset} images have {pixels} pixels "
                         f"({IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}); start it with {pixels}")
    if sizes[-1] != n_classes:
        raise ValueError(f"{option} ends with {sizes[-1]} outputs, but {dataset} has {n_classes} classes; "
                         f"end it with {n_classes}")


def normalize(images: np.ndarray, dataset: str, dtype=np.float32) -> np.ndarray:
    """uint8 (N, 28, 28) -> float (N, 784), scaled to [0, 1] and standardised with the dataset's statistics."""
    _, mean, std, _ = DATASETS[dataset]
    x = images.reshape(len(images), -1).astype(dtype) / 255
    return (x - np.asarray(mean, dtype)) / np.asarray(std, dtype)
