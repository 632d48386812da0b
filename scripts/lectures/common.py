"""What the lecture demos share: their --fast and --plot options, and writing a figure into the plot folder.

The demos, in the order of the notes (each runs with `python scripts/lectures/<demo>.py [--fast] [--plot DIR]`):

    linear_regression.py        1. f(x) = w * x with a hand-derived gradient that is N times too large
    two_layer_relu.py           2. a two-layer ReLU net whose backward clips the gradient instead of masking it
    sine_tanh.py                3. a tanh MLP fitting sin(x) with the bias after the activation; no extrapolation
    softmax_regression.py       4. softmax regression on MNIST, then one hidden layer
    universal_approximation.py  5. one hidden layer of 1 to 64 ReLU units fitting a curve
    logistic_graph.py           6. the logistic-regression graph, each local derivative against autograd
    pruning.py                  7. magnitude pruning of the MNIST MLP, a NumPy mask against torch.nn.utils.prune
    seeds.py                    8. the MNIST MLP from 20 seeds: how lucky can you get?
    extrapolation.py            9. tanh, ReLU and GELU MLPs that learnt sin(x) on [-pi, pi], beyond the window
    autoencoder.py             10. an MNIST autoencoder scoring Fashion-MNIST as anomalies, ROC AUC by hand
    adding_problem.py          11. the adding problem: an LSTM remembers, a plain RNN struggles at length 30
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from matplotlib.figure import Figure

from scratch.io import save_figure


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every demo has: --fast and --plot DIR."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--fast", action="store_true",
                   help="a run of a few seconds for tests and CI; quick demos ignore it (default: off)")
    p.add_argument("--plot", type=plot_dir, default=None, metavar="DIR",
                   help="write the demo's figures into DIR as PNG (default: no figures)")
    return p


def plot_dir(value: str) -> Path:
    """--plot's type: a folder for the figures, made now, so a bad path stops the demo before any training."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file, expected a folder for the figures")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot make the folder {value} for the figures: {err.strerror}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write figures into {value}: the folder is not writable")
    return path


def positive_int(value: str, minimum: int = 1) -> int:
    """An argparse type: an integer >= 1 (>= minimum)."""
    number = int(value) if value.lstrip("-").isdigit() else None
    if number is None or number < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value!r}")
    return number


def seed(value: str) -> int:
    """An argparse type: a seed, an integer >= 0."""
    return positive_int(value, minimum=0)


def positive_float(value: str) -> float:
    """An argparse type: a finite number > 0 (NaN and inf refused)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {value!r}")
    return number


def add_data_dir(p: argparse.ArgumentParser) -> None:
    """The --data-dir option of the demos that read MNIST or Fashion-MNIST."""
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding MNIST/raw/ and FashionMNIST/raw/ (default: $MLP_PARITY_DATA, else data/)")


def data_error(err: Exception) -> int:
    """Say why the data could not be read and what to do instead; returns the exit code of bad input, 2."""
    print(f"error: {err} Or run with --fast to use synthetic data.", file=sys.stderr)
    return 2


def save_plot(fig: Figure, plot_dir: Path, name: str) -> None:
    """Write `fig` as `plot_dir/name` (atomically) and say where."""
    path = save_figure(fig, plot_dir / name)
    print(f"wrote {path}")
