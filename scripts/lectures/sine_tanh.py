"""Lecture demo 3: a 1-10-10-1 tanh MLP fitting sin(x) on [0, 2 pi] one sample at a time, and failing to extrapolate.

The notes' hidden layers compute y = tanh(x @ W) + b, the bias added after the activation, and backpropagate
through them with (1 - y**2), the tanh derivative taken on that post-bias output. tanh's own output is y - b, so
the derivative is right only while b = 0. The parity checker runs the notes' backward against torch's autograd
and names W2's gradient first; with zero biases the same check passes, which is why the mistake survives.
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
from scratch import optim as soptim
from torch_impl.parity import compare

SIZES = [1, 10, 10, 1]
LR = 0.001


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """W1, b1, W2, b2, W3, b3, standard normal; W shaped (in, out) as the notes write x @ W."""
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), start=1):
        params[f"W{i}"] = rng.standard_normal((n_in, n_out))
        params[f"b{i}"] = rng.standard_normal(n_out)
    return params


# -- NumPy, backward by hand ------------------------------------------------------------------------------------
class NotesNet(scratch.Module):
    """The notes' net: hidden layers tanh(x @ W) + b, a linear output layer, backward written by hand."""

    def __init__(self, params: dict[str, np.ndarray]):
        for name, value in params.items():
            setattr(self, name, scratch.Parameter(value.copy()))

    def tanh_derivative(self, y, b):
        return 1 - y**2  # the notes: the derivative on the post-bias output y = tanh(.) + b

    def forward(self, x):
        y1 = np.tanh(x @ self.W1.data) + self.b1.data  # (N, 1) @ (1, 10) -> (N, 10)
        y2 = np.tanh(y1 @ self.W2.data) + self.b2.data  # (N, 10) @ (10, 10) -> (N, 10)
        self.cache = x, y1, y2
        return y2 @ self.W3.data + self.b3.data  # (N, 10) @ (10, 1) -> (N, 1)

    def backward(self, dout):
        x, y1, y2 = self._cached("cache")
        self.W3.accumulate(y2.T @ dout)  # (10, N) @ (N, 1) -> (10, 1)
        self.b3.accumulate(dout.sum(axis=0))
        dy2 = dout @ self.W3.data.T  # (N, 1) @ (1, 10) -> (N, 10)
        self.b2.accumulate(dy2.sum(axis=0))  # the bias comes after tanh: its gradient is dy2 itself
        dz2 = dy2 * self.tanh_derivative(y2, self.b2.data)
        self.W2.accumulate(y1.T @ dz2)  # (10, N) @ (N, 10) -> (10, 10)
        dy1 = dz2 @ self.W2.data.T
        self.b1.accumulate(dy1.sum(axis=0))
        dz1 = dy1 * self.tanh_derivative(y1, self.b1.data)
        self.W1.accumulate(x.T @ dz1)  # (1, N) @ (N, 10) -> (1, 10)
        self.cache = None
        return dz1 @ self.W1.data.T


class FixedNet(NotesNet):
    def tanh_derivative(self, y, b):
        return 1 - (y - b) ** 2  # tanh's own output is y - b


def train_numpy(net: NotesNet, x, y, orders: list[np.ndarray]) -> list[float]:
    """Plain SGD, one sample per step, in the given order per epoch; the MSE over all samples after each epoch."""
    loss_fn = scratch.nn.MSELoss()
    optimizer = soptim.SGD(net.parameters(), lr=LR)
    curve = []
    for order in orders:
        for i in order:
            loss_fn(net(x[i : i + 1]), y[i : i + 1])
            optimizer.zero_grad()
            net.backward(loss_fn.backward())
            optimizer.step()
        curve.append(float(np.mean((net(x) - y) ** 2)))
    return curve


# -- torch, backward by autograd --------------------------------------------------------------------------------
class TorchNet(nn.Module):
    def __init__(self, params: dict[str, np.ndarray]):
        super().__init__()
        for name, value in params.items():
            self.register_parameter(name, nn.Parameter(torch.tensor(value)))

    def forward(self, x):
        y1 = torch.tanh(x @ self.W1) + self.b1
        y2 = torch.tanh(y1 @ self.W2) + self.b2
        return y2 @ self.W3 + self.b3


def train_torch(net: TorchNet, x, y, orders: list[np.ndarray]) -> list[float]:
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    curve = []
    for order in orders:
        for i in order:
            loss = loss_fn(net(x[i : i + 1]), y[i : i + 1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            curve.append(loss_fn(net(x), y).item())
    return curve


def predict(net, x: np.ndarray) -> np.ndarray:
    if isinstance(net, nn.Module):
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()
    return net(x)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=400, help="passes over the 100 samples, 10 with --fast (default: 400)")
    p.add_argument("--seed", type=int, default=2, help="seed of the weights and the sample order (default: 2)")
    args = p.parse_args(argv)
    epochs = 10 if args.fast else args.epochs
    rng = np.random.default_rng(args.seed)
    x = np.linspace(0, 2 * np.pi, 100)[:, None]  # (100, 1)
    y = np.sin(x)
    params = init_params(rng)
    orders = [rng.permutation(len(x)) for _ in range(epochs)]

    print("parity checker on the initial weights (biases drawn from N(0, 1)), one step, MSE loss:")
    for name, net in (("notes", NotesNet(params)), ("corrected", FixedNet(params))):
        report = compare(net, TorchNet(params), x, target=y, loss="mse")
        print(f"\nthe {name} backward against autograd:\n{report}")
        if report.first_failure:
            print(f"the checker names {report.first_failure.name}: the first gradient taken through the notes' "
                  "tanh derivative (b2's, taken before it, is right)")
    zero_bias = {name: np.zeros_like(value) if name.startswith("b") else value for name, value in params.items()}
    report = compare(NotesNet(zero_bias), TorchNet(zero_bias), x, target=y, loss="mse")
    print(f"\nthe notes' backward with every bias set to 0: {'passes' if report.ok else 'fails'} "
          "(1 - y**2 is tanh's derivative only while b = 0)")

    nets = {"notes": NotesNet(params), "corrected": FixedNet(params), "autograd": TorchNet(params)}
    before = predict(nets["corrected"], x)
    curves = {name: (train_torch if name == "autograd" else train_numpy)(net, x, y, orders)
              for name, net in nets.items()}
    print(f"\nMSE over the 100 samples, {epochs} epochs of one-sample SGD, lr {LR}:")
    print(f"{'epoch':>6}" + "".join(f"{name:>12}" for name in nets))
    for i in sorted({*range(0, epochs, max(epochs // 5, 1)), epochs - 1}):
        print(f"{i + 1:>6}" + "".join(f"{curve[i]:>12.5f}" for curve in curves.values()))

    wide = np.linspace(-2 * np.pi, 4 * np.pi, 600)[:, None]
    inside = (wide >= 0) & (wide <= 2 * np.pi)
    error = (predict(nets["autograd"], wide) - np.sin(wide)) ** 2
    print(f"\nextrapolation (autograd net): MSE {error[inside].mean():.4f} on [0, 2 pi] where it trained, "
          f"{error[~inside].mean():.4f} on [-2 pi, 0) and (2 pi, 4 pi]: it does not extrapolate")

    if args.plot:
        fig = Figure(figsize=(12, 4))
        fit_ax, wide_ax = fig.subplots(1, 2)
        fit_ax.plot(x, y, "k.", label="sin(x), 100 samples")
        fit_ax.plot(x, before, ":", label="before training")
        for name, net in nets.items():
            fit_ax.plot(x, predict(net, x), "--" if name == "autograd" else "-", label=f"after: {name}")
        fit_ax.set(xlabel="x", title=f"fit after {epochs} epochs")
        wide_ax.plot(wide, np.sin(wide), "k", lw=1, label="sin(x)")
        wide_ax.plot(wide, predict(nets["autograd"], wide), label="autograd net")
        wide_ax.axvspan(0, 2 * np.pi, color="grey", alpha=0.15, label="training range")
        wide_ax.set(xlabel="x", title="prediction on [-2 pi, 4 pi]")
        for ax in (fit_ax, wide_ax):
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "sine_tanh.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
