"""Lecture demo 9: extending our DNN beyond its training window: sin(x) learnt on [-pi, pi], predicted on [-3pi, 3pi].

Three 1-32-32-1 MLPs, with tanh, ReLU and GELU, are fitted to sin(x) on [-pi, pi] by full-batch Adam, each as a
NumPy model and its torch twin from the same weights (float64, so the twins agree to rounding). Inside the window
all three fit; outside it none follows the sine, and each fails in the way its activation dictates: a tanh net
flattens to a constant (every tanh saturates), a ReLU net continues along straight lines (it is piecewise linear),
a GELU net bends towards straight lines too (GELU(x) tends to x, and to 0, for large |x|).

The last two columns are how far the twins' predictions part, and how far torch's part from torch's own when its
samples come in reverse order (the same sums, rounded in another order). After a few hundred steps Adam turns
rounding-sized differences between two gradients into full-sized steps, so both pairs drift apart alike, by up to a
few percent, while every one of them still fits.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from common import parser, positive_float, positive_int, save_plot, seed
from matplotlib.figure import Figure
from universal_approximation import fit_numpy, fit_torch

import scratch
from torch_impl import to_torch

ACTIVATIONS = ["tanh", "relu", "gelu"]
SIZES = [1, 32, 32, 1]


def fit(activation: str, x: np.ndarray, y: np.ndarray, steps: int, lr: float, seed: int):
    """The NumPy model and its torch twin, both fitted from the same weights; their final training MSEs."""
    model = scratch.mlp(SIZES, activation, dtype=np.float64, seed=seed)
    twin = to_torch(model)
    return model, twin, fit_numpy(model, x, y, steps, lr), fit_torch(twin, x, y, steps, lr)


def reversed_torch(activation: str, x: np.ndarray, y: np.ndarray, steps: int, lr: float, seed: int):
    """torch against itself: the same twin from the same weights, fitted to the samples in reverse order."""
    reference = to_torch(scratch.mlp(SIZES, activation, dtype=np.float64, seed=seed))
    fit_torch(reference, x[::-1].copy(), y[::-1].copy(), steps, lr)
    return reference


def predict_torch(twin, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return twin(torch.from_numpy(x)).numpy()


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=positive_int, default=3000, help="full-batch Adam steps, 300 with --fast (default: 3000)")
    p.add_argument("--lr", type=positive_float, default=0.01, help="Adam learning rate (default: 0.01)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the weights (default: 0)")
    args = p.parse_args(argv)
    steps = 300 if args.fast else args.steps
    x = np.linspace(-np.pi, np.pi, 200)[:, None]  # (200, 1): the training window
    y = np.sin(x)
    wide = np.linspace(-3 * np.pi, 3 * np.pi, 1201)[:, None]  # (1201, 1)
    outside = np.abs(wide[:, 0]) > np.pi

    print(f"1-32-32-1 MLPs fitted to sin(x) on [-pi, pi], {steps} full-batch Adam steps, lr {args.lr}, float64")
    print(f"\n{'activation':>10} {'train MSE NumPy':>16} {'torch':>10} {'MSE on [-pi, pi]':>17} "
          f"{'MSE outside':>12} {'NumPy - torch':>14} {'torch - torch reversed':>23}")
    models, predictions, t_predictions = {}, {}, {}
    for activation in ACTIVATIONS:
        model, twin, loss, t_loss = fit(activation, x, y, steps, args.lr, args.seed)
        pred, t_pred = model(wide), predict_torch(twin, wide)
        models[activation], predictions[activation], t_predictions[activation] = model, pred, t_pred
        error = (pred - np.sin(wide))[:, 0] ** 2
        drift = predict_torch(reversed_torch(activation, x, y, steps, args.lr, args.seed), wide)
        gap, self_gap = (np.abs(other - t_pred).max() / np.abs(t_pred).max() for other in (pred, drift))
        print(f"{activation:>10} {loss:>16.2e} {t_loss:>10.2e} {error[~outside].mean():>17.2e} "
              f"{error[outside].mean():>12.2e} {gap:>14.1e} {self_gap:>23.1e}")
    far = np.array([[3 * np.pi], [1e3], [1e4]])
    print("\nfar outside, at x = 3pi, 1e3 and 1e4 (NumPy):")
    for activation, model in models.items():
        print(f"{activation:>10}: " + ", ".join(f"{v:.6g}" for v in model(far)[:, 0]))

    if args.plot:
        fig = Figure(figsize=(9, 4))
        ax = fig.subplots()
        ax.plot(wide, np.sin(wide), "k", lw=1, label="sin(x)")
        for activation, pred in predictions.items():
            line, = ax.plot(wide, pred, label=f"{activation} MLP, NumPy")
            ax.plot(wide, t_predictions[activation], "--", color=line.get_color(), label="torch")
        ax.axvspan(-np.pi, np.pi, color="grey", alpha=0.15, label="training window")
        ax.set(xlabel="x", ylim=(-3, 3), title="sin(x) learnt on [-pi, pi], predicted on [-3pi, 3pi]")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "extrapolation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
