"""Command-line options shared by the NumPy scripts and `mlp-parity`: one per ModelSpec field."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import fields

from .models import ModelSpec


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


def add_model_args(parser: argparse.ArgumentParser, defaults: ModelSpec) -> None:
    """One option per ModelSpec field (--model, --sizes, --activation, --channels, --batch-norm, ...)."""
    for f in fields(ModelSpec):
        default, meta = getattr(defaults, f.name), f.metadata
        flag = "--" + f.name.replace("_", "-")
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        help_text = f"{meta['help']} (default: {shown})"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif isinstance(default, list):
            kind = sizes_arg if f.name == "sizes" else ints_arg
            parser.add_argument(flag, type=kind, default=default, metavar="N,N,...", help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=default, choices=meta["choices"], help=help_text)


def model_spec(args: argparse.Namespace) -> ModelSpec:
    """The ModelSpec of parsed options."""
    return ModelSpec.from_dict(vars(args))
