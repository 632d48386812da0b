"""Lecture demo 11: a task that needs memory, the adding problem: an LSTM learns it, a plain RNN struggles.

Each input is a sequence of T steps of two channels: a random value in [0, 1], and a marker that is 1 at two steps
(one in each half) and 0 elsewhere. The target is the sum of the two marked values, so the model must remember
the first one for up to T steps. Always answering 1, the mean, scores MSE 1/6 (the variance of a sum of two
uniform values); a model that beats 1/6 clearly has learnt to remember. An LSTM and a plain tanh RNN, each read
at its last step by a Linear head, are trained with Adam on fresh batches, each as a NumPy model (backward through
time by hand) and its torch twin from the same weights on the same batches, in float64. A second torch twin sees
each batch with its rows reversed (the same sums, rounded in another order): where training amplifies rounding,
as the plain RNN's does on long sequences, torch parts from itself as far as from NumPy.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from common import parser, positive_float, positive_int, save_plot, seed
from matplotlib.figure import Figure
from torch import nn

import scratch
import scratch.nn as snn
from scratch import optim as soptim
from scratch.sequence import SequenceModel
from torch_impl import to_torch

BASELINE = 1 / 6  # the MSE of always answering 1: Var(u1 + u2) = 2 * (1/12) for u uniform on [0, 1]


def adding_batch(rng: np.random.Generator, length: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(length, n, 2) inputs, values and markers, and the (n, 1) sums of the two marked values."""
    values = rng.random((length, n))
    markers = np.zeros((length, n))
    markers[rng.integers(0, length // 2, n), np.arange(n)] = 1  # one in the first half
    markers[rng.integers(length // 2, length, n), np.arange(n)] = 1  # one in the second
    return np.stack([values, markers], axis=-1), (values * markers).sum(axis=0)[:, None]


def build(cell: str, hidden: int, seed: int) -> SequenceModel:
    rng = np.random.default_rng(seed)
    rnn = snn.LSTM(2, hidden, dtype=np.float64, rng=rng) if cell == "LSTM" else snn.RNN(2, hidden, dtype=np.float64,
                                                                                        rng=rng)
    return SequenceModel(rnn, snn.Linear(hidden, 1, dtype=np.float64, rng=rng))


# -- NumPy (scratch), backward through time by hand -------------------------------------------------------------
def numpy_step(model: scratch.Module, optimizer: soptim.Optimizer, x, y) -> float:
    loss_fn = snn.MSELoss()
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    model.backward(loss_fn.backward())
    optimizer.step()
    return float(loss)


# -- torch, backward by autograd ---------------------------------------------------------------------------------
def torch_step(model: nn.Module, optimizer: torch.optim.Optimizer, x, y) -> float:
    loss = nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train(cell: str, length: int, steps: int, hidden: int, lr: float, seed: int) -> dict:
    """Both twins of one model on the same fresh batches, and torch on the rows reversed; loss curves, test MSEs."""
    model = build(cell, hidden, seed)
    twin, reference = to_torch(model), to_torch(model)
    optimizer, t_optimizer = soptim.Adam(model.parameters(), lr=lr), torch.optim.Adam(twin.parameters(), lr=lr)
    r_optimizer = torch.optim.Adam(reference.parameters(), lr=lr)
    rng = np.random.default_rng([seed, length])
    curves, reversed_curve = {"NumPy": [], "torch": []}, []
    for _ in range(steps):
        x, y = adding_batch(rng, length, 64)
        curves["NumPy"].append(numpy_step(model, optimizer, x, y))
        curves["torch"].append(torch_step(twin, t_optimizer, x, y))
        reversed_curve.append(torch_step(reference, r_optimizer, x[:, ::-1].copy(), y[::-1].copy()))
    x, y = adding_batch(np.random.default_rng([seed, length, 1]), length, 1000)
    with torch.no_grad():
        test = {"NumPy": float(np.mean((model(x) - y) ** 2)),
                "torch": float(np.mean((twin(torch.from_numpy(x)).numpy() - y) ** 2))}
    losses = np.array(curves["torch"])
    gaps = {"NumPy": np.max(np.abs(np.array(curves["NumPy"]) - losses) / losses),
            "reversed": np.max(np.abs(np.array(reversed_curve) - losses) / losses)}
    return {"curves": curves, "test": test, "baseline": float(np.mean((1 - y) ** 2)), "gaps": gaps}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--lengths", type=positive_int, nargs="+", default=[10, 30],
                   help="sequence lengths T, each at least 2; 10 alone with --fast (default: 10 30)")
    p.add_argument("--steps", type=positive_int, default=1500, help="Adam steps of 64 sequences, 60 with --fast (default: 1500)")
    p.add_argument("--hidden", type=positive_int, default=16, help="hidden units of each recurrent layer (default: 16)")
    p.add_argument("--lr", type=positive_float, default=0.02, help="Adam learning rate (default: 0.02)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the weights and the batches (default: 0)")
    args = p.parse_args(argv)
    if min(args.lengths) < 2:
        p.error(f"every length must be at least 2 (one marker in each half), got {args.lengths}")
    lengths, steps = ([10], 60) if args.fast else (args.lengths, args.steps)
    print(f"the adding problem: batches of 64, {steps} Adam steps, lr {args.lr}, {args.hidden} hidden units, float64;"
          f" always answering 1 scores MSE 1/6 = {BASELINE:.4f}")
    print(f"\n{'model':>5} {'T':>4} {'test MSE NumPy':>15} {'torch':>10} {'answering 1':>12} "
          f"{'largest loss gap NumPy - torch':>31} {'torch - torch, rows reversed':>29}")
    runs = {}
    for length in lengths:
        for cell in ("LSTM", "RNN"):
            run = runs[cell, length] = train(cell, length, steps, args.hidden, args.lr, args.seed)
            print(f"{cell:>5} {length:>4} {run['test']['NumPy']:>15.4f} {run['test']['torch']:>10.4f} "
                  f"{run['baseline']:>12.4f} {run['gaps']['NumPy']:>31.1e} {run['gaps']['reversed']:>29.1e}")

    if args.plot:
        fig = Figure(figsize=(5 * len(lengths), 4))
        for ax, length in zip(np.atleast_1d(fig.subplots(1, len(lengths), sharey=True)), lengths):
            for cell in ("LSTM", "RNN"):
                for side, curve in runs[cell, length]["curves"].items():
                    ax.plot(curve, "--" if side == "torch" else "-", lw=1, label=f"{cell} ({side})")
            ax.axhline(BASELINE, color="k", lw=1, ls=":", label="answering 1: 1/6")
            ax.set(yscale="log", xlabel="Adam step", ylabel="training MSE", title=f"T = {length}")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "adding_problem.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
