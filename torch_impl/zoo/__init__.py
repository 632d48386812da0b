"""The bug zoo: deliberately wrong NumPy backward passes, each caught by the parity checker and named by it."""

from .bugs import DiagonalSoftmax
from .cases import BUGS, Bug, Case, zoo_bug
from .command import add_zoo_parser, run_zoo

__all__ = ["BUGS", "Bug", "Case", "DiagonalSoftmax", "add_zoo_parser", "run_zoo", "zoo_bug"]
