"""A heat map of |hand-written - reference| for one failing tensor, written as PNG atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratch.io import save_figure

from .report import Row


def plot_error(row: Row, path: str | os.PathLike) -> Path:
    """|a - b| of `row`, as a 2-D map: a vector is one row, more than two dims are flattened after the first."""
    error = np.asarray(row.error)
    grid = error.reshape(1, -1) if error.ndim < 2 else error.reshape(error.shape[0], -1)  # (rows, columns)
    fig = Figure(figsize=(min(2 + 0.3 * grid.shape[1], 12), min(1.5 + 0.3 * grid.shape[0], 10)))
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="magma", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="|hand-written - reference|")
    ax.set(title=f"{row.name} {tuple(row.shape)}: {row.mismatched}/{row.size} mismatched, worst at {list(row.worst)}",
           xlabel="flattened trailing dims" if error.ndim > 2 else "column", ylabel="row")
    return save_figure(fig, path)
