"""Lecture demo 2: a two-layer ReLU net on random data, backward by hand (the notes', corrected) and by autograd.

The notes backpropagate through the ReLU with dh = np.maximum(dh_relu, 0): that clips the upstream gradient to
its positive part, where the ReLU's derivative asks to mask it, keeping it where h > 0 and zeroing it elsewhere.
The parity checker runs the notes' backward against torch's autograd and names the first wrong tensor: w1's
gradient, the only parameter gradient that passes through the ReLU.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from common import parser, save_plot
from matplotlib.figure import Figure
from torch import nn

import scratch
import scratch.nn as snn
from torch_impl.parity import TRAJECTORY_RTOL, compare, diff

N, D_IN, H, D_OUT = 64, 1000, 100, 10
LR = 1e-6


def data(seed: int) -> tuple[np.ndarray, ...]:
    """x (N, D_in), y (N, D_out), w1 (D_in, H), w2 (H, D_out), all standard normal, float64, in that order."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape) for shape in ((N, D_IN), (N, D_OUT), (D_IN, H), (H, D_OUT)))


# -- NumPy, backward by hand ------------------------------------------------------------------------------------
def forward(x, w1, w2):
    h = x @ w1  # (N, D_in) @ (D_in, H) -> (N, H)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu @ w2  # (N, H) @ (H, D_out) -> (N, D_out)
    return h, h_relu, y_pred


def backward_notes(x, h, h_relu, w1, w2, dy_pred):
    dw2 = h_relu.T @ dy_pred  # (H, N) @ (N, D_out) -> (H, D_out)
    dh_relu = dy_pred @ w2.T  # (N, D_out) @ (D_out, H) -> (N, H)
    dh = np.maximum(dh_relu, 0)  # the notes: clips the gradient instead of masking it
    dw1 = x.T @ dh  # (D_in, N) @ (N, H) -> (D_in, H)
    return dw1, dw2, dh @ w1.T  # dx, (N, D_in), is not needed to train; the checker compares it too


def backward(x, h, h_relu, w1, w2, dy_pred):
    dw2 = h_relu.T @ dy_pred
    dh_relu = dy_pred @ w2.T
    dh = dh_relu * (h > 0)  # the ReLU's derivative masks: 1 where h > 0, else 0
    dw1 = x.T @ dh
    return dw1, dw2, dh @ w1.T


def train_numpy(backward_fn, x, y, w1, w2, iterations: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    w1, w2 = w1.copy(), w2.copy()
    losses = []
    for _ in range(iterations):
        h, h_relu, y_pred = forward(x, w1, w2)
        losses.append(float(np.square(y_pred - y).sum()))
        dy_pred = 2.0 * (y_pred - y)
        dw1, dw2, _ = backward_fn(x, h, h_relu, w1, w2, dy_pred)
        w1 -= LR * dw1
        w2 -= LR * dw2
    return losses, w1, w2


# -- torch, backward by autograd --------------------------------------------------------------------------------
def torch_forward(x, w1, w2):
    return x.mm(w1).clamp(min=0).mm(w2)


def train_torch(x, y, w1, w2, iterations: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    w1, w2 = (torch.tensor(w, requires_grad=True) for w in (w1, w2))
    losses = []
    for _ in range(iterations):
        loss = (torch_forward(x, w1, w2) - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1 -= LR * w1.grad
            w2 -= LR * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return losses, w1.detach().numpy(), w2.detach().numpy()


# -- the same net as modules, for the parity checker ------------------------------------------------------------
class TwoLayerNet(scratch.Module):
    """The net with a hand-written backward (the notes' or the corrected), as a scratch module."""

    def __init__(self, w1: np.ndarray, w2: np.ndarray, backward_fn):
        self.w1, self.w2 = scratch.Parameter(w1.copy()), scratch.Parameter(w2.copy())
        self.backward_fn = backward_fn

    def forward(self, x):
        h, h_relu, y_pred = forward(x, self.w1.data, self.w2.data)
        self.cache = x, h, h_relu
        return y_pred

    def backward(self, dy_pred):
        x, h, h_relu = self._cached("cache")
        dw1, dw2, dx = self.backward_fn(x, h, h_relu, self.w1.data, self.w2.data, dy_pred)
        self.w1.accumulate(dw1)
        self.w2.accumulate(dw2)
        self.cache = None
        return dx


class TorchTwoLayerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros(D_IN, H, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.zeros(H, D_OUT, dtype=torch.float64))

    def forward(self, x):
        return torch_forward(x, self.w1, self.w2)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=500, help="gradient-descent steps, 50 with --fast (default: 500)")
    p.add_argument("--seed", type=int, default=42, help="seed of x, y, w1 and w2 (default: 42)")
    args = p.parse_args(argv)
    iterations = 50 if args.fast else args.iterations
    x, y, w1, w2 = data(args.seed)

    runs = {
        "notes": train_numpy(backward_notes, x, y, w1, w2, iterations),
        "corrected": train_numpy(backward, x, y, w1, w2, iterations),
        "autograd": train_torch(x, y, w1, w2, iterations),
    }
    print(f"N = {N}, D_in = {D_IN}, H = {H}, D_out = {D_OUT}; sum of squared errors, lr {LR:g}, seed {args.seed}\n")
    print(f"{'iteration':>9}" + "".join(f"{name + ' loss':>18}" for name in runs))
    for i in sorted({0, *range(99, iterations, 100), iterations - 1}):
        print(f"{i + 1:>9}" + "".join(f"{losses[i]:>18.6g}" for losses, _, _ in runs.values()))

    rtol = TRAJECTORY_RTOL[np.dtype(np.float64)]
    _, t_w1, t_w2 = runs["autograd"]
    for name in ("notes", "corrected"):
        _, w1_end, w2_end = runs[name]
        rows = [diff("w1", w1_end, t_w1, rtol), diff("w2", w2_end, t_w2, rtol)]
        print(f"\nweights after {iterations} steps, {name} against autograd: " + ", ".join(
            f"{row.name} max rel {row.max_rel:.2e} {'ok' if row.ok else 'FAIL'}" for row in rows))

    loss = (snn.MSELoss(reduction="sum"), nn.MSELoss(reduction="sum"))
    for name, backward_fn in (("notes", backward_notes), ("corrected", backward)):
        report = compare(TwoLayerNet(w1, w2, backward_fn), TorchTwoLayerNet(), x, target=y, loss=loss)
        print(f"\nparity checker, the {name} backward against autograd (one step from the initial weights):\n{report}")
        if report.first_failure:
            print(f"the checker names {report.first_failure.name}: w1's gradient is the one that flows through "
                  "the ReLU")

    if args.plot:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        for name, (losses, _, _) in runs.items():
            ax.plot(range(1, iterations + 1), losses, "--" if name == "autograd" else "-", label=name)
        ax.set(yscale="log", xlabel="iteration", ylabel="sum of squared errors", title="two-layer ReLU net")
        ax.legend()
        ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "two_layer_relu.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
