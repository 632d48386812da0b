"""Fuzzing: random IDX headers and bytes, random option values. Every outcome is a clean result or one message
(exit 2), never a traceback, and reading a file never holds more than about twice the data its header declares.

The examples are derandomized, so CI tries the same cases every run; the README's count of tried cases is
max_examples summed over these tests.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import tracemalloc

import numpy as np
import pytest
from helpers import ROOT, one_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratch import data
from scratch.data import FILES, CorruptDataError
from torch_impl.cli import main

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SLACK = 1 << 20  # gzip's read buffers and small Python objects: a fixed allowance on top of 2x the declared data
ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def idx_files(draw) -> tuple[bytes, int, tuple[int, ...] | None]:
    """(file bytes, data bytes its header declares, the shape a valid file holds or None)."""
    magic = draw(st.sampled_from([b"\x00\x00", b"\x00\x00", b"\x00\x00", b"\x01\x00", b"PK"]))
    code = draw(st.sampled_from([*ITEMSIZE, 0x07, 0xFF]))
    ndim = draw(st.integers(0, 5))
    dims = draw(st.lists(st.one_of(st.integers(0, 12), st.integers(0, 2**32 - 1)), min_size=ndim, max_size=ndim))
    header = magic + bytes([code, ndim]) + np.array(dims, ">u4").tobytes()
    valid = magic == b"\x00\x00" and code in ITEMSIZE and 1 <= ndim <= 4
    declared = math.prod(dims) * ITEMSIZE[code] if valid else 0
    exact = min(declared, 1 << 16)
    length = draw(st.sampled_from([exact, exact, max(exact - 1, 0), exact + 1, exact + 4096, 0]))
    header = header[: draw(st.sampled_from([len(header)] * 4 + [0, 3, 5, len(header) - 1]))]
    body = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 256, length, np.uint8).tobytes()
    whole = valid and length == declared and len(header) == 4 + 4 * ndim
    return header + body, declared, tuple(dims) if whole else None


@given(idx_files(), st.sampled_from(["raw", "gzip", "broken gzip", "bomb"]))
@FUZZ
def test_fuzz_idx_files(tmp_path, case, packing):
    raw, declared, shape = case
    name = "fuzz-idx-ubyte" + ("" if packing == "raw" else ".gz")
    path = tmp_path / name
    if packing == "bomb":
        raw, shape = raw + bytes(8 << 20), None  # 8 MB more than the file's header accounts for
    packed = raw if packing == "raw" else gzip.compress(raw, compresslevel=1)
    if packing == "broken gzip":
        packed = packed[:10] + bytes(b ^ 0x5A for b in packed[10:30]) + packed[30:]
    path.write_bytes(packed)
    tracemalloc.start()
    try:
        outcome = data.read_idx(path)
    except CorruptDataError as err:
        outcome = err
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= 2 * declared + SLACK, f"{peak} bytes held for {declared} declared"
    if isinstance(outcome, CorruptDataError):
        message = str(outcome)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        assert shape is None or packing == "broken gzip", f"a valid file was refused: {message}"
    else:  # a damaged archive is read only where the damage changed nothing (gzip's CRC agrees)
        assert shape is not None and outcome.shape == shape and outcome.dtype.isnative


@given(labels=st.lists(st.one_of(st.integers(-3, 12), st.floats(allow_nan=True, allow_infinity=True)), max_size=12),
       image_shape=st.sampled_from([(28, 28), (28, 28), (32, 32), (28,), (28, 28, 1)]),
       image_dtype=st.sampled_from([np.uint8, np.uint8, np.float32, np.int16]))
@FUZZ
def test_fuzz_dataset_contents(tiny_data_dir, idx_writer, labels, image_shape, image_dtype):
    dtype = np.float64 if any(isinstance(v, float) for v in labels) else np.int16
    label_array = np.array(labels, dtype)
    images = np.zeros((len(labels), *image_shape), image_dtype)
    image_file, label_file = FILES["test"]
    idx_writer(tiny_data_dir / "MNIST" / "raw" / image_file, images)
    idx_writer(tiny_data_dir / "MNIST" / "raw" / label_file, label_array)
    valid = (len(labels) > 0 and image_shape == (28, 28) and image_dtype == np.uint8
             and all(math.isfinite(v) and v == int(v) and 0 <= v <= 9 for v in labels))
    try:
        got_images, got_labels = data.load("mnist", "test", tiny_data_dir)
    except CorruptDataError as err:
        assert not valid, f"valid data refused: {err}"
        assert "\n" not in str(err)
        return
    assert valid, f"invalid data accepted: labels {labels}, images {image_shape} {image_dtype.__name__}"
    assert got_images.shape == (len(labels), 28, 28) and got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_labels, np.array(labels, np.float64).astype(np.int64))


JUNK = st.sampled_from(["", "abc", "1e", "--", "0x10", " ", "1,2", "nan", "-inf"])
WIDTHS = st.lists(st.integers(1, 12), min_size=2, max_size=4).map(lambda w: ",".join(map(str, w)))
BAD_SIZES = st.one_of(st.sampled_from(["784,100000000,10", "100000000000,2", "4,99999999999"]),
                      st.sampled_from(["3.5,2", "-1,2", "4,,2", "784", "0,3"]), JUNK)
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), JUNK)


def ints(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(str)


@st.composite
def options(draw, choices: dict[str, tuple[st.SearchStrategy, st.SearchStrategy]]) -> list[str]:
    """A command line from {option: (valid values, bad values)}: a random subset of the options with valid values,
    and half the time one of them spoiled, so that a bad value reaches whatever checks it after the parser too."""
    chosen = draw(st.fixed_dictionaries({}, optional={name: good for name, (good, _) in choices.items()}))
    if draw(st.booleans()):
        name = draw(st.sampled_from(list(choices)))  # Hypothesis favours the first: list the deepest checks first
        chosen[name] = draw(choices[name][1])
    return [part for name, value in chosen.items() for part in (f"--{name}", value)]


def judge(code, out: str, err: str, json_out: bool, prog: str) -> None:
    """The property: a clean run (a verdict or strict JSON), or exit 2 with one message; never a traceback."""
    if code == 2:
        one_error(err)
        return
    assert code in (0, 1), f"exit {code}: {err}"
    assert f"{prog}: error" not in err
    if json_out:
        json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


@given(options({
    "sizes": (WIDTHS, BAD_SIZES),
    "steps": (ints(0, 3), st.one_of(ints(-2, -1), JUNK)),
    "batch-size": (ints(1, 16), st.sampled_from(["0", "-2", "1000000000", "10**3"])),
    "lr": (st.floats(1e-4, 0.5).map(repr), ANY_FLOAT),
    "rtol": (st.floats(1e-12, 1e-2).map(repr), ANY_FLOAT),
    "seed": (ints(0, 2**32 - 1), st.one_of(st.sampled_from(["-1", "4294967296", "9" * 20]), JUNK)),
    "dtype": (st.sampled_from(["float32", "float64"]), st.sampled_from(["float16", "int8"])),
    "optimizer": (st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw"]), st.just("lion")),
    "loss": (st.sampled_from(["mse", "bce", "nll", "cross_entropy"]), st.just("hinge")),
    "activation": (st.sampled_from(["relu", "tanh", "gelu"]), st.just("bogus")),
    "device": (st.just("cpu"), st.sampled_from(["toaster", "cuda:99", ""])),
}), st.booleans())
@FUZZ
def test_fuzz_check_options(capsys, argv, json_out):
    argv = ["check", "--steps", "2", "--sizes", "6,5,3", *argv, *(["--json"] if json_out else [])]
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    judge(code, out, err, json_out, "mlp-parity check")


@pytest.fixture(scope="module")
def train_numpy():
    spec = importlib.util.spec_from_file_location("train_numpy", ROOT / "scripts" / "train_numpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@given(options({
    "sizes": (st.lists(st.integers(1, 12), max_size=2).map(lambda w: ",".join(map(str, [784, *w, 10]))),
              st.one_of(WIDTHS, BAD_SIZES)),
    "channels": (st.sampled_from(["2", "2,3"]), st.one_of(st.sampled_from(["0,2", "1,1,1,1,1,1", "99999999999"]), JUNK)),
    "model": (st.sampled_from(["mlp", "mlp", "cnn"]), st.just("resnet")),
    "lr": (st.floats(1e-4, 0.5).map(repr), ANY_FLOAT),
    "gamma": (st.floats(0.1, 1.0).map(repr), ANY_FLOAT),
    "batch-size": (ints(1, 64), st.one_of(ints(-1, 0), JUNK)),
    "seed": (ints(0, 2**32 - 1), st.one_of(ints(-2, -1), st.just(str(2**33)), JUNK)),
    "optimizer": (st.sampled_from(["sgd", "momentum", "adam"]), st.just("rmsprop")),
    "dtype": (st.sampled_from(["float32", "float64"]), st.just("bfloat16")),
    "hidden": (ints(1, 8), st.one_of(ints(-1, 0), JUNK)),
    "dropout": (st.floats(0, 0.9).map(repr), ANY_FLOAT),
}))
@settings(FUZZ, max_examples=60)
def test_fuzz_train_numpy_options(train_numpy, tiny_data_dir, tmp_path_factory, capsys, argv):
    out = tmp_path_factory.mktemp("run")
    small = ["--sizes", "784,8,10", "--channels", "2", "--hidden", "4"]  # defaults the drawn options may override
    argv = ["--data-dir", str(tiny_data_dir), "--out", str(out), "--dry-run", *small, *argv]
    try:
        code = train_numpy.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    stdout, err = capsys.readouterr()
    judge(code, stdout, err, False, "train_numpy")
    assert (out / "model.npz").exists() == (code == 0), "outputs written by a refused run, or missing from a clean one"
