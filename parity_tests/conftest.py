"""Shared fixtures: an IDX file writer and a tiny, learnable MNIST / Fashion-MNIST in torchvision's raw layout."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from scratch.data import DATASETS, FILES
from scratch.io import atomic_write

# (dtype kind, item size) -> IDX type code, the inverse of scratch.data's reader table
IDX_TYPES = {("u", 1): 0x08, ("i", 1): 0x09, ("i", 2): 0x0B, ("i", 4): 0x0C, ("f", 4): 0x0D, ("f", 8): 0x0E}


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write `array` as an IDX file (big-endian, gzip-compressed when the name ends in .gz)."""
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in IDX_TYPES or not 1 <= array.ndim <= 4:
        raise ValueError(f"IDX holds 1 to 4 dims of uint8, int8, int16, int32, float32 or float64; got {array.dtype} "
                         f"with shape {array.shape}")
    header = bytes([0, 0, IDX_TYPES[key], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if Path(path).suffix == ".gz":
        data = gzip.compress(data)
    return atomic_write(path, lambda f: f.write(data))


def write_tiny_dataset(root: str | os.PathLike, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Both datasets' four IDX files under `root`: noise images where class k lights up row 2k + 4 (learnable)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for folder, *_ in DATASETS.values():
        for split, n in (("train", n_train), ("test", n_test)):
            labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)  # (n,) every class present
            images = rng.integers(0, 64, (n, 28, 28), dtype=np.uint8)  # (n, 28, 28) dim noise
            images[np.arange(n), 2 * labels.astype(int) + 4] = 255  # one bright row per class
            image_file, label_file = FILES[split]
            write_idx(root / folder / "raw" / image_file, images)
            write_idx(root / folder / "raw" / label_file, labels)
    return root


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A data dir holding MNIST/raw/ and FashionMNIST/raw/: 300 train and 100 test images each."""
    return write_tiny_dataset(tmp_path / "data")


@pytest.fixture
def idx_writer() -> Callable[[str | os.PathLike, np.ndarray], Path]:
    """`write_idx` for tests that write their own IDX files."""
    return write_idx


@pytest.fixture
def one_thread():
    """torch on one thread: with tiny tensors on a busy machine, handing work between threads costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
