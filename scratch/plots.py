"""Training plots as PNG files: loss and accuracy curves, a confusion matrix, and labelled example images.

Figures are built with `matplotlib.figure.Figure` (rendered by Agg), never through pyplot, so no GUI backend is touched
and no global figure state is left behind; NumPy in, files out through `scratch.io.save_figure`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .io import save_figure


def plot_history(history: dict[str, list[float]], path: str | os.PathLike) -> Path:
    """Loss and accuracy by epoch: keys ending in "_loss" on the left panel, "_acc" on the right (e.g. train_loss)."""
    fig = Figure(figsize=(10, 4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key, values in sorted(history.items()):
        ax = loss_ax if key.endswith("_loss") else acc_ax if key.endswith("_acc") else None
        if ax is not None and len(values):
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return save_figure(fig, path)


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: str | os.PathLike) -> Path:
    """A (C, C) confusion matrix of counts, rows the true class and columns the predicted one."""
    confusion = np.asarray(confusion)
    n = len(class_names)
    if confusion.shape != (n, n):
        raise ValueError(f"confusion must be ({n}, {n}) for {n} class names, got shape {confusion.shape}")
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax)
    threshold = confusion.max() / 2
    for (i, j), count in np.ndenumerate(confusion):  # the count in each cell, white on dark cells
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color="white" if count > threshold else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set(xlabel="predicted", ylabel="true", title=f"confusion matrix (accuracy {accuracy:.2%})")
    return save_figure(fig, path)


def plot_examples(
    images: np.ndarray, pred: np.ndarray, true: np.ndarray, class_names: Sequence[str], path: str | os.PathLike
) -> Path:
    """A grid of uint8 (N, 28, 28) images titled "predicted / true", mistakes in red."""
    if not len(images) == len(pred) == len(true):
        raise ValueError(f"need one prediction and one label per image, got {len(images)}, {len(pred)}, {len(true)}")
    cols = min(8, max(len(images), 1))
    rows = max(math.ceil(len(images) / cols), 1)
    fig = Figure(figsize=(1.6 * cols, 1.9 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, p, t in zip(axes, images, pred, true):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{class_names[p]} / {class_names[t]}", fontsize=8, color="black" if p == t else "red")
    fig.suptitle("predicted / true (mistakes in red)")
    return save_figure(fig, path)
