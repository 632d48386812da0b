"""Lecture demo 5: one hidden layer of ReLU units fits a curve piecewise linearly, more finely as the layer widens.

Each width is trained twice from the same weights, by the NumPy (scratch) network and by its torch twin, with
full-batch Adam on sin(x) over [-pi, pi]; the final mean squared error falls as the width grows.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import torch
from common import parser, save_plot
from matplotlib.figure import Figure
from torch import nn

import scratch
import scratch.nn as snn
from scratch import optim as soptim
from torch_impl import to_torch

WIDTHS = [1, 2, 4, 8, 16, 64]


def build(width: int, x: np.ndarray, seed: int) -> snn.Sequential:
    """A 1-width-1 ReLU net whose kinks start spread evenly over x's range, facing alternately right and left."""
    model = scratch.mlp([1, width, 1], "relu", dtype=np.float64, seed=seed)  # output layer: torch's default init
    kinks = np.linspace(x.min(), x.max(), width + 2)[1:-1]  # (width,)
    sign = np.where(np.arange(width) % 2 == 0, 1.0, -1.0)  # unit j is max(0, sign_j * (x - kink_j))
    model[0].weight.data[:] = sign[:, None]  # (width, 1)
    model[0].bias.data[:] = -sign * kinks
    return model


# -- NumPy (scratch), backward by hand --------------------------------------------------------------------------
def fit_numpy(model: scratch.Module, x, y, steps: int, lr: float) -> float:
    loss_fn = snn.MSELoss()
    optimizer = soptim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss_fn(model(x), y)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
    return float(loss_fn(model(x), y))


# -- torch, backward by autograd --------------------------------------------------------------------------------
def fit_torch(model: nn.Module, x, y, steps: int, lr: float) -> float:
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return loss_fn(model(x), y).item()


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000, help="full-batch Adam steps, 300 with --fast (default: 2000)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate, 0.02 with --fast (default: 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of the output layer's weights (default: 0)")
    args = p.parse_args(argv)
    steps, lr = (300, 0.02) if args.fast else (args.steps, args.lr)
    x = np.linspace(-np.pi, np.pi, 200)[:, None]  # (200, 1)
    y = np.sin(x)

    print(f"fitting sin(x) on [-pi, pi], 200 points, {steps} full-batch Adam steps, lr {lr}\n")
    print(f"{'width':>5} {'NumPy MSE':>12} {'torch MSE':>12} {'max |NumPy - torch| prediction':>32}")
    fits, errors = {}, []
    for width in WIDTHS:
        model = build(width, x, args.seed)
        twin = to_torch(model)
        mse, t_mse = fit_numpy(model, x, y, steps, lr), fit_torch(twin, x, y, steps, lr)
        fits[width] = model(x)
        with torch.no_grad():
            gap = np.abs(fits[width] - twin(torch.from_numpy(x)).numpy()).max()
        errors.append(mse)
        print(f"{width:>5} {mse:>12.3e} {t_mse:>12.3e} {gap:>32.1e}")
    print("(both sides compute the same steps; over thousands of Adam steps their rounding-level differences can "
          "grow, since Adam divides each gradient by its own running size and so amplifies what is left of it near "
          "a minimum)")
    falls = all(a > b for a, b in itertools.pairwise(errors))
    print(f"\nthe error falls with every doubling of the width: {'yes' if falls else 'no'}")

    if args.plot:
        fig = Figure(figsize=(8, 5))
        ax = fig.subplots()
        ax.plot(x, y, "k", lw=3, alpha=0.3, label="sin(x)")
        for width, fit in fits.items():
            ax.plot(x, fit, label=f"{width} unit{'s' if width > 1 else ''}")
        ax.set(xlabel="x", title=f"one hidden ReLU layer: piecewise-linear fits after {steps} Adam steps")
        ax.legend()
        ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "universal_approximation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
