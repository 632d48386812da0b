"""The NumPy IDX reader: valid raw and gzip files, and every damaged file refused with its name and the fault."""

import gzip

import numpy as np
import pytest

from scratch import data
from scratch.data import FILES, CorruptDataError, MissingDataError


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_reads_raw_and_gzip_files(tmp_path, idx_writer, name):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 27), dtype=np.uint8)  # non-square on purpose
    read = data.read_idx(idx_writer(tmp_path / name, images))
    assert read.dtype == np.uint8 and read.shape == (5, 28, 27)
    np.testing.assert_array_equal(read, images)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_reads_big_endian_types_into_native_order(tmp_path, idx_writer, dtype):
    values = (np.arange(-6, 6).reshape(3, 4) * 7).astype(dtype)
    read = data.read_idx(idx_writer(tmp_path / "values-idx2", values))
    assert read.dtype == np.dtype(dtype) and read.dtype.isnative
    np.testing.assert_array_equal(read, values)


def test_load_returns_uint8_images_and_int64_labels(tiny_data_dir):
    images, labels = data.load("mnist", "test", tiny_data_dir)
    assert images.shape == (100, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (100,) and labels.dtype == np.int64
    x = data.normalize(images, "mnist", np.float64)
    assert x.shape == (100, 784) and x.dtype == np.float64


def test_load_reads_gzip_files(tiny_data_dir):
    folder = tiny_data_dir / "MNIST" / "raw"
    expected = data.load("mnist", "train", tiny_data_dir)
    for name in FILES["train"]:
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))
        (folder / name).unlink()
    for got, want in zip(data.load("mnist", "train", tiny_data_dir), expected):
        np.testing.assert_array_equal(got, want)


def test_truncated_data_names_the_file_and_the_sizes(tmp_path, idx_writer):
    path = idx_writer(tmp_path / "labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CorruptDataError, match=r"labels-idx1-ubyte: 15 bytes, but its header \(10,\) .* needs 18"):
        data.read_idx(path)


def test_truncated_header_names_the_file(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0]))
    with pytest.raises(CorruptDataError, match="images-idx3-ubyte: truncated header .6 bytes, expected 16"):
        data.read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path, idx_writer):
    path = idx_writer(tmp_path / "labels-idx1-ubyte.gz", np.arange(100, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptDataError, match="labels-idx1-ubyte.gz: cannot be read"):
        data.read_idx(path)


@pytest.mark.parametrize("head", [b"", b"\x00\x00", b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00",
                                  b"PK\x03\x04"])
def test_wrong_magic_names_the_file_and_the_bytes(tmp_path, head):
    path = tmp_path / "images-idx3-ubyte"
    raw = head + bytes(16)
    path.write_bytes(raw)
    shown = raw[:4].hex(" ")
    with pytest.raises(CorruptDataError, match=f"images-idx3-ubyte: not an IDX file .*got {shown}"):
        data.read_idx(path)


def test_empty_file_is_not_an_idx_file(tmp_path):
    path = tmp_path / "empty-idx1-ubyte"
    path.write_bytes(b"")
    with pytest.raises(CorruptDataError, match="empty-idx1-ubyte: not an IDX file .*got nothing"):
        data.read_idx(path)


def test_header_too_large_for_any_file_is_refused(tmp_path):
    path = tmp_path / "images-idx3-ubyte"  # three dimensions of 2**32 - 1: their product overflows int64
    path.write_bytes(bytes([0, 0, 0x08, 3]) + b"\xff" * 12)
    with pytest.raises(CorruptDataError, match="images-idx3-ubyte: 16 bytes, but its header"):
        data.read_idx(path)


def test_missing_file_is_a_missing_data_error(tmp_path):
    with pytest.raises(MissingDataError, match="nope-idx1-ubyte: no such file"):
        data.read_idx(tmp_path / "nope-idx1-ubyte")


def test_images_and_labels_of_different_lengths_name_both_files(tiny_data_dir, idx_writer):
    labels = tiny_data_dir / "MNIST" / "raw" / FILES["test"][1]
    idx_writer(labels, np.zeros(99, dtype=np.uint8))
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte holds \(100, 28, 28\) and "
                                               r".*t10k-labels-idx1-ubyte holds \(99,\)"):
        data.load("mnist", "test", tiny_data_dir)


def test_labels_out_of_range_name_the_file(tiny_data_dir, idx_writer):
    labels = tiny_data_dir / "FashionMNIST" / "raw" / FILES["test"][1]
    idx_writer(labels, np.full(100, 10, dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="t10k-labels-idx1-ubyte: labels run from 10 to 10"):
        data.load("fashion_mnist", "test", tiny_data_dir)


def test_missing_files_are_listed_with_what_to_do(tiny_data_dir):
    (tiny_data_dir / "MNIST" / "raw" / FILES["test"][1]).unlink()
    (tiny_data_dir / "MNIST" / "raw" / FILES["train"][0]).unlink()
    with pytest.raises(MissingDataError) as err:
        data.load("mnist", "train", tiny_data_dir)
    message = str(err.value)
    assert "train-images-idx3-ubyte[.gz]" in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert str(tiny_data_dir / "MNIST" / "raw") in message and "MLP_PARITY_DATA" in message


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_PARITY_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.delenv("MLP_PARITY_DATA")
    assert str(data.default_data_dir()) == "data"
