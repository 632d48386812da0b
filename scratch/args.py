"""Command-line options shared by the NumPy scripts and `mlp-parity`: one per ModelSpec field."""

from __future__ import annotations

import argparse
from dataclasses import fields

from .models import ModelSpec


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
