"""Command-line options shared by the NumPy scripts and `mlp-parity`: which model, and its sizes."""

from __future__ import annotations

import argparse

from .models import ACTIVATIONS


def ints_arg(text: str) -> list[int]:
    """'784,128,10' -> [784, 128, 10], refusing anything but positive integers."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 784,128,10, got {text!r}")
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def sizes_arg(text: str) -> list[int]:
    sizes = ints_arg(text)
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two positive widths such as 784,128,10, got {text!r}")
    return sizes


def add_model_args(parser: argparse.ArgumentParser, sizes: list[int]) -> None:
    """--model, --sizes, --activation and the CNN's --channels, --hidden, --batch-norm, --dropout."""
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp", help="model (default: mlp)")
    parser.add_argument("--sizes", type=sizes_arg, default=sizes,
                        help=f"MLP layer widths, input first; the CNN uses the last as its number of classes "
                        f"(default: {','.join(map(str, sizes))})")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                        help="MLP hidden activation (default: relu)")
    parser.add_argument("--channels", type=ints_arg, default=[32, 64],
                        help="CNN: output channels of each conv block (default: 32,64)")
    parser.add_argument("--hidden", type=int, default=128, help="CNN: width of the hidden Linear layer (default: 128)")
    parser.add_argument("--batch-norm", action="store_true", help="CNN: batch norm after each convolution")
    parser.add_argument("--dropout", type=float, default=0.0, help="CNN: dropout before each Linear layer (default: 0)")


MODEL_ARGS = ("model", "sizes", "activation", "channels", "hidden", "batch_norm", "dropout")


def model_kwargs(args) -> dict:
    """The keyword arguments of scratch.models.build (and torch_impl.models.build) from parsed options."""
    return {name: getattr(args, name) for name in MODEL_ARGS}
