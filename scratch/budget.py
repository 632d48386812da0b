"""Memory budget: estimate what training a model takes, and refuse before allocating any of it what cannot fit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Arrays held per parameter: weights, gradients, two optimizer moments (Adam), one state_dict copy for a report.
PARAM_COPIES = 5
# Arrays held per activation value of one sample: a layer's output, its cache, the gradient and a temporary.
ACTIVATION_COPIES = 4


class MemoryBudgetError(ValueError):
    """A model or batch too large for this machine; the message names the size needed and the size available."""


def counts(model: str, sizes: Sequence[int], channels: Sequence[int] = (), hidden: int = 0,
           image: tuple[int, int, int] = (1, 28, 28), kernel: int = 3) -> tuple[int, int]:
    """(parameters, activation values per sample) of an "mlp" of `sizes`, or of scratch.models' "cnn"."""
    if model != "cnn":
        return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes)), sum(sizes)
    (c, h, w), params, activations = image, 0, 0
    for out in channels:  # conv (as im2col columns and output), ReLU, max pool 2
        params += c * out * kernel * kernel + out
        activations += h * w * (c * kernel * kernel + 3 * out)
        c, h, w = out, h // 2, w // 2
    flat = c * h * w
    params += flat * hidden + hidden + hidden * sizes[-1] + sizes[-1]
    return params, activations + flat + hidden + sizes[-1]


def available_bytes() -> int | None:
    """Memory this process can still take: the kernel's MemAvailable, capped by a cgroup limit; None if unknown."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    free = next((int(line.split()[1]) * 1024 for line in meminfo.splitlines() if line.startswith("MemAvailable:")),
                None)
    try:
        limit, used = (Path("/sys/fs/cgroup", name).read_text().strip() for name in ("memory.max", "memory.current"))
        if limit.isdigit() and free is not None:
            free = min(free, int(limit) - int(used))
    except OSError:
        pass
    return free


def human(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_memory(what: str, model: str, sizes: Sequence[int], batch_size: int, dtype, channels: Sequence[int] = (),
                 hidden: int = 0, copies: int = 1) -> int:
    """Refuse training `what` when its estimated need exceeds the memory available; return the estimate in bytes.

    `copies` counts the models trained side by side (2 for a NumPy model and its torch twin).
    """
    params, activations = counts(model, sizes, channels, hidden)
    need = np.dtype(dtype).itemsize * copies * (PARAM_COPIES * params + ACTIVATION_COPIES * batch_size * activations)
    free = available_bytes()
    if free is not None and need > free:
        raise MemoryBudgetError(
            f"{what} needs about {human(need)} ({params:,} parameters, {activations:,} activations per sample, "
            f"weights, gradients and optimizer state); this machine has {human(free)} available: choose smaller "
            "sizes or a smaller batch"
        )
    return need
