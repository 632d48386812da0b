"""Lecture demo 1: fit f(x) = w * x by gradient descent, with the notes' hand-derived gradient and with autograd.

The notes compute the gradient of the mean squared error as np.dot(2 * x, y_pred - y).mean(). np.dot already
sums over the N samples, and the .mean() of that one number changes nothing, so the result is N times the
gradient of the mean loss. The corrected gradient averages, as the loss does; torch's autograd agrees with it.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from common import parser, save_plot
from matplotlib.figure import Figure

from torch_impl.parity import diff

X = np.array([1, 2, 3, 4], dtype=np.float32)
Y = np.array([2, 4, 6, 8], dtype=np.float32)
LR, ITERATIONS = 0.01, 10


# -- NumPy, gradient by hand ----------------------------------------------------------------------------------
def forward(w, x):
    return w * x


def loss(y, y_pred):
    return ((y_pred - y) ** 2).mean()


def gradient_notes(x, y, y_pred):
    return np.dot(2 * x, y_pred - y).mean()  # np.dot sums over samples: N times d(loss)/dw


def gradient(x, y, y_pred):
    return (2 * x * (y_pred - y)).mean()  # d/dw of mean((w * x - y)**2)


def train_numpy(gradient_fn) -> list[tuple[float, float]]:
    """(w, loss) after each iteration, starting from w = 0."""
    w = np.float32(0.0)
    history = []
    for _ in range(ITERATIONS):
        y_pred = forward(w, X)
        value = loss(Y, y_pred)
        w = w - LR * gradient_fn(X, Y, y_pred)
        history.append((float(w), float(value)))
    return history


# -- torch, gradient by autograd ------------------------------------------------------------------------------
def train_torch() -> list[tuple[float, float]]:
    """(w, loss) after each iteration, starting from w = 0."""
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    w = torch.tensor(0.0, requires_grad=True)
    history = []
    for _ in range(ITERATIONS):
        y_pred = w * x
        value = ((y_pred - y) ** 2).mean()
        value.backward()
        with torch.no_grad():
            w -= LR * w.grad
        w.grad.zero_()
        history.append((w.item(), value.item()))
    return history


def autograd_gradient(w: float) -> float:
    t_w = torch.tensor(w, requires_grad=True)
    ((t_w * torch.from_numpy(X) - torch.from_numpy(Y)) ** 2).mean().backward()
    return t_w.grad.item()


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    runs = {"notes": train_numpy(gradient_notes), "corrected": train_numpy(gradient), "autograd": train_torch()}

    print(f"f(x) = w * x on X = {X.tolist()}, Y = {Y.tolist()}; lr {LR}, {ITERATIONS} iterations from w = 0")
    print(f"prediction before training: f(5) = {forward(np.float32(0.0), 5):.3f}\n")
    print("iter  " + "".join(f"{name + ': w':>14} {'loss':>12}" for name in runs))
    for i in range(ITERATIONS):
        print(f"{i + 1:>4}  " + "".join(f"{history[i][0]:>14.3f} {history[i][1]:>12.8f}" for history in runs.values()))
    print("\nprediction after training: " + ", ".join(
        f"{name} f(5) = {forward(history[-1][0], 5):.3f}" for name, history in runs.items()))

    y_pred = forward(np.float32(0.0), X)
    d_notes, d_fixed, d_auto = gradient_notes(X, Y, y_pred), gradient(X, Y, y_pred), autograd_gradient(0.0)
    ratio = d_notes / d_auto
    print(f"\ngradient at w = 0: notes {d_notes:.3f}, corrected {d_fixed:.3f}, autograd {d_auto:.3f}")
    print(f"ratio notes / autograd = {ratio:.1f} = N, the {len(X)} samples: np.dot already sums over them, "
          "and .mean() of one number is that number")
    print(f"(the notes' run converges sooner only because its steps are {len(X)} times larger: "
          f"it is lr {len(X) * LR:g} in disguise)")
    for name, value in (("dw (notes)", d_notes), ("dw (corrected)", d_fixed)):
        row = diff(name, np.float32(value), np.float32(d_auto), rtol=1e-5)
        print(f"checker, {name} against autograd: max rel {row.max_rel:.2e}, {'ok' if row.ok else 'FAIL'}")
    assert abs(ratio - len(X)) < 1e-5, f"expected the notes' gradient to be {len(X)} times autograd's, got {ratio}"

    if args.plot:
        fig = Figure(figsize=(10, 4))
        loss_ax, fit_ax = fig.subplots(1, 2)
        for name, history in runs.items():
            style = "--" if name == "autograd" else "-"  # autograd lies on top of the corrected run
            loss_ax.plot(range(1, ITERATIONS + 1), [value for _, value in history], style, marker="o", label=name)
            fit_ax.plot([0, 5], [0, 5 * history[-1][0]], style, label=f"{name}: w = {history[-1][0]:.3f}")
        loss_ax.set(yscale="log", xlabel="iteration", ylabel="loss (before the step)", title="mean squared error")
        fit_ax.plot(X, Y, "ko", label="data")
        fit_ax.set(xlabel="x", ylabel="f(x)", title=f"fits after {ITERATIONS} iterations")
        for ax in (loss_ax, fit_ax):
            ax.legend()
            ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "linear_regression.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
