"""The NumPy IDX reader: valid raw and gzip files, and every damaged file refused with its name and the fault."""

import gzip
import tracemalloc

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


DAMAGED = "the file is truncated or damaged: delete it and fetch it again"


def peak_bytes(call) -> tuple[int, object]:
    """Peak memory that NumPy and Python allocate while `call()` runs, and what it returned or raised."""
    tracemalloc.start()
    try:
        outcome = call()
    except Exception as err:  # noqa: BLE001 - returned for the caller to judge
        outcome = err
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, outcome


def test_gzip_bomb_is_read_no_further_than_its_header(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    declared = 1200 * 28 * 28
    with gzip.open(path, "wb", compresslevel=1) as f:  # 1,200 images declared, 64 MB of pixels behind them
        f.write(bytes([0, 0, 0x08, 3]) + np.array([1200, 28, 28], ">u4").tobytes())
        for _ in range(64):
            f.write(bytes(1 << 20))
    peak, outcome = peak_bytes(lambda: data.read_idx(path))
    assert isinstance(outcome, CorruptDataError) and "longer than its header" in str(outcome), outcome
    assert peak < 2 * declared, f"{peak / 1e6:.1f} MB held for {declared / 1e6:.1f} MB of declared data"


def test_raw_file_longer_than_its_header_is_refused_unread(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, 1]) + np.array([10], ">u4").tobytes())
        f.truncate(32 << 20)  # 32 MB, sparse
    peak, outcome = peak_bytes(lambda: data.read_idx(path))
    assert isinstance(outcome, CorruptDataError) and f"{32 << 20} bytes, but its header (10,)" in str(outcome)
    assert peak < 1 << 20


def test_header_declaring_more_than_memory_is_refused(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"  # 2**40 bytes declared: no machine here holds that
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 3]) + np.array([1 << 14, 1 << 13, 1 << 13], ">u4").tobytes()))
    with pytest.raises(CorruptDataError, match="images-idx3-ubyte.gz: its header .* declares 1099511627776 bytes"):
        data.read_idx(path)


@pytest.mark.parametrize("damage", ["flipped", "not gzip"])
def test_corrupt_gzip_gives_the_damaged_file_message(tmp_path, idx_writer, damage):
    path = idx_writer(tmp_path / "labels-idx1-ubyte.gz", np.arange(200, dtype=np.uint8) % 10)
    raw = bytearray(path.read_bytes())
    if damage == "flipped":
        raw[20:30] = bytes(b ^ 0xFF for b in raw[20:30])  # inside the deflate stream: zlib.error before the fix
    else:
        raw[:2] = b"PK"
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError) as err:
        data.read_idx(path)
    assert str(err.value).startswith(f"{path}: ") and str(err.value).endswith(DAMAGED) and "\n" not in str(err.value)


def test_every_damaged_file_ends_with_the_same_advice(tmp_path, idx_writer):
    truncated = idx_writer(tmp_path / "a-idx1-ubyte", np.arange(10, dtype=np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:-3])
    header = tmp_path / "b-idx3-ubyte"
    header.write_bytes(bytes([0, 0, 0x08, 3, 0, 0]))
    magic = tmp_path / "c-idx3-ubyte"
    magic.write_bytes(b"PK\x03\x04" + bytes(16))
    for path in (truncated, header, magic):
        with pytest.raises(CorruptDataError, match=f"{DAMAGED}$"):
            data.read_idx(path)


def write_split(root, idx_writer, images, labels, split="test", folder="MNIST"):
    image_file, label_file = FILES[split]
    idx_writer(root / folder / "raw" / image_file, images)
    idx_writer(root / folder / "raw" / label_file, labels)


@pytest.mark.parametrize("value", [1.5, np.nan, np.inf])
def test_float_labels_must_be_whole_class_numbers(tiny_data_dir, idx_writer, value):
    labels = np.arange(100, dtype=np.float32) % 10
    labels[37] = value
    write_split(tiny_data_dir, idx_writer, np.zeros((100, 28, 28), np.uint8), labels)
    with pytest.raises(CorruptDataError, match=rf"t10k-labels-idx1-ubyte: label 37 is {value}; expected whole class"):
        data.load("mnist", "test", tiny_data_dir)


def test_whole_float_labels_load_as_int64(tiny_data_dir, idx_writer):
    labels = np.arange(100) % 10
    write_split(tiny_data_dir, idx_writer, np.zeros((100, 28, 28), np.uint8), labels.astype(np.float64))
    np.testing.assert_array_equal(data.load("mnist", "test", tiny_data_dir)[1], labels)


def test_a_file_of_zero_images_is_refused(tiny_data_dir, idx_writer):
    assert data.read_idx(idx_writer(tiny_data_dir / "empty-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))).shape == (
        0, 28, 28)
    write_split(tiny_data_dir, idx_writer, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), split="train")
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte holds no images"):
        data.load("mnist", "train", tiny_data_dir)


@pytest.mark.parametrize("shape, dtype", [((100, 32, 32), np.uint8), ((100, 28, 28), np.float32),
                                          ((100, 784), np.uint8)])
def test_images_must_be_28_by_28_bytes(tiny_data_dir, idx_writer, shape, dtype):
    write_split(tiny_data_dir, idx_writer, np.zeros(shape, dtype), np.arange(100, dtype=np.uint8) % 10)
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte holds .* expected uint8 images \(N, 28, 28\)"):
        data.load("mnist", "test", tiny_data_dir)


def test_labels_of_the_wrong_ndim_name_both_files(tiny_data_dir, idx_writer):
    write_split(tiny_data_dir, idx_writer, np.zeros((100, 28, 28), np.uint8), np.zeros((100, 1), np.uint8))
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte holds .*t10k-labels-idx1-ubyte holds"):
        data.load("mnist", "test", tiny_data_dir)
