"""Command-line options shared by the NumPy scripts and `mlp-parity`: which model, and its sizes."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from .models import ACTIVATIONS


class Rule:
    """One rule for a number option: `rule(text)` parses and checks a command-line value (an argparse type);
    `rule.check(name, value)` checks a value that arrived some other way (a config file, a function argument)."""

    def __init__(self, what: str, parse: type, ok: Callable[[float], bool]):
        self.what, self.parse, self.ok, self.__name__ = what, parse, ok, what

    def __call__(self, text: str):
        try:
            value = self.parse(text)
        except ValueError:
            value = None
        if value is None or not self.ok(value):
            raise argparse.ArgumentTypeError(f"expected {self.what}, got {text!r}")
        return value

    def check(self, name: str, value) -> None:
        kinds = int if self.parse is int else int | float
        if not isinstance(value, kinds) or isinstance(value, bool) or not self.ok(value):
            raise ValueError(f"{name}: expected {self.what}, got {value}")


POSITIVE_INT = Rule("a positive integer", int, lambda v: v >= 1)
COUNT = Rule("an integer >= 0", int, lambda v: v >= 0)
SEED = Rule("an integer from 0 to 4294967295", int, lambda v: 0 <= v < 2**32)
RATE = Rule("a finite number > 0", float, lambda v: math.isfinite(v) and v > 0)
NON_NEGATIVE = Rule("a finite number >= 0", float, lambda v: math.isfinite(v) and v >= 0)
FACTOR = Rule("a number in (0, 1]", float, lambda v: 0 < v <= 1)
PROBABILITY = Rule("a probability in [0, 1)", float, lambda v: 0 <= v < 1)
TOLERANCE = Rule("a number >= 0", float, lambda v: v >= 0)


def check_model_options(options, prefix: str = "--") -> None:
    """The model options a parser or a config file lets through: every width, the CNN's hidden and dropout.

    `options` is anything with those attributes (parsed options, a config); `prefix` names them as the user typed them.
    """
    for name in ("sizes", "channels"):
        for width in getattr(options, name):
            POSITIVE_INT.check(f"{prefix}{name}", width)
    POSITIVE_INT.check(f"{prefix}hidden", options.hidden)
    PROBABILITY.check(f"{prefix}dropout", options.dropout)


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
