"""Shared test helpers: inputs that can catch bugs, the one comparison assertion, the one subprocess runner, and
the Lightning script run on the tiny dataset."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from torch_impl import to_torch
from torch_impl.parity import Report, compare, diff
from torch_impl.parity.numerical import differences

ROOT = Path(__file__).resolve().parents[1]  # the repository: scripts/, examples/, ...

DTYPES = [np.float64, np.float32]


def randn(*shape, dtype=np.float64, seed=0, zeros: bool = False) -> np.ndarray:
    """Standard-normal values (both signs); with zeros=True about a fifth of them are exactly 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if zeros:
        x[rng.random(shape) < 0.2] = 0.0
    return x.astype(dtype)


def check(module, *inputs, **kwargs) -> Report:
    """Compare a scratch module with the torch twin built by to_torch; fail with the report's table."""
    report = compare(module, to_torch(module), *inputs, **kwargs)
    assert report.ok, f"\n{report}"
    return report


def load_example(name: str):
    """examples/<name>.py as a module (examples/ is a folder of scripts, not a package)."""
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close(name: str, actual, expected, rtol: float, atol: float = 0.0) -> None:
    """The one value assertion: shape and dtype first, then normwise max|a - b| <= atol + rtol * max|b|."""
    row = diff(name, actual, expected, rtol, atol)
    assert row.ok, f"{name}: max abs {row.max_abs:.2e}, normwise {row.max_rel:.2e} > rtol {rtol:g} {row.note}"


def run(*argv: str | os.PathLike, cwd: str | os.PathLike | None = None, env: dict | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """`python *argv` in a fresh process, one thread per library (two spin against each other on a busy CPU).

    A first argument such as "scripts/train_numpy.py" is taken relative to the repository (a .sh script runs under
    bash); `env` adds variables.
    """
    first = Path(argv[0]) if argv and not str(argv[0]).startswith("-") else None
    argv = (str(ROOT / first) if first and not first.is_absolute() else str(argv[0]), *map(str, argv[1:]))
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    interpreter = "bash" if argv[0].endswith(".sh") else sys.executable
    return subprocess.run([interpreter, *argv], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=timeout, check=False)


def numerical_grad(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of `array`, perturbed in place (the loop
    of check_grads' numerical reference)."""
    return differences(f, array, f(), eps)[0]


# Central differences with step h = 1e-6 in float64 carry a truncation error of about h**2 and a rounding error of
# about 1e-16 / h = 1e-10, relative, so they cannot meet the twins' 1e-12. Measured over every layer and loss of
# test_finite_differences.py: at most 1.6e-9 normwise (BCEWithLogitsLoss). 1e-8 leaves room for that and still
# fails on any wrong factor, sign or term.
FD_RTOL = 1e-8


def check_finite_differences(layer, x: np.ndarray) -> None:
    """The layer's backward against central differences of sum(layer(x) * dout), for a random dout."""
    dout = randn(*layer(x).shape, seed=2)

    def loss():
        return float(np.sum(layer(x) * dout))

    layer(x)
    dx = layer.backward(dout)
    close("input", dx, numerical_grad(loss, x), FD_RTOL)
    for name, param in layer.named_parameters():
        close(name, param.grad, numerical_grad(loss, param.data), FD_RTOL)


# The Lightning script on the tiny dataset: 300 training images - 60 for validation = 240, in batches of 32, so
# 8 steps an epoch. The tiny dataset is learnable: one epoch of the MLP reaches 100% test accuracy.
TINY_LIGHTNING = ["--data.batch_size", "32", "--data.val_size", "60", "--trainer.max_epochs", "1"]
LEARNED = 0.9  # test accuracy that shows learning on the tiny dataset (chance is 0.1)


def lightning_run(data_dir: Path, root_dir: Path, *args: str, config: str | None = None) -> subprocess.CompletedProcess:
    """scripts/train_mnist.py on the tiny dataset for one epoch (unless `args` say otherwise), under root_dir.

    `config` names a file of scripts/configs/ read first (-c), so the tiny settings and `args` override it.
    """
    first = ["-c", str(ROOT / "scripts" / "configs" / config)] if config else []
    return run("scripts/train_mnist.py", *first, "--data.data_dir", data_dir, "--trainer.default_root_dir", root_dir,
               *TINY_LIGHTNING, *args, cwd=root_dir.parent)


def finished_run(proc: subprocess.CompletedProcess) -> tuple[Path, dict]:
    """Check a Lightning run succeeded and printed its run directory last; return that directory and its summary."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert run_dir.is_dir(), f"the last line of stdout should be the run directory, got {run_dir}"
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def one_error(stderr: str, *phrases: str) -> str:
    """A refused run's stderr: no traceback, one 'error:' message, holding every phrase; returns that message."""
    assert "Traceback" not in stderr, stderr
    messages = [line for line in stderr.splitlines() if "error:" in line]
    assert len(messages) == 1, f"expected one error message, got {len(messages)}:\n{stderr}"
    for phrase in phrases:
        assert phrase in messages[0], f"{phrase!r} not in the message:\n{messages[0]}"
    return messages[0]
