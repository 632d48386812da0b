"""Lecture demo 8: how lucky can you get? The MNIST MLP trained from 20 seeds, as NumPy and torch twins.

A seed fixes the initial weights and the order of the mini-batches. For each seed the NumPy model and its torch
twin start from the same weights and see the same batches, so each seed's two accuracies agree (exactly in
float64; in float32 up to the few test images that rounding moves across a decision boundary), while different
seeds spread: that spread is the luck of the draw. With --fast the run uses 3 seeds on a slice of MNIST, or
synthetic data when the files are absent.
"""

from __future__ import annotations

import sys

import numpy as np
from common import add_data_dir, data_error, parser, positive_float, positive_int, save_plot
from matplotlib.figure import Figure
from softmax_regression import load_mnist, predict_numpy, predict_torch, train_numpy, train_torch

import scratch
from scratch import data
from torch_impl import to_torch


def train_seed(seed: int, splits, hidden: int, epochs: int, batch_size: int, lr: float, dtype) -> dict:
    """Both twins from one seed: test accuracies and the fraction of identical test predictions."""
    x_train, y_train, x_test, y_test = splits
    rng = np.random.default_rng(seed)
    model = scratch.mlp([784, hidden, 10], "relu", dtype=dtype, seed=seed)
    twin = to_torch(model)
    for _ in range(epochs):
        batches = np.array_split(rng.permutation(len(y_train)), max(len(y_train) // batch_size, 1))
        train_numpy(model, x_train, y_train, batches, lr)
        train_torch(twin, x_train, y_train, batches, lr)
    pred, t_pred = predict_numpy(model, x_test), predict_torch(twin, x_test)
    return {"seed": seed, "NumPy": float(np.mean(pred == y_test)), "torch": float(np.mean(t_pred == y_test)),
            "same": float(np.mean(pred == t_pred))}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=positive_int, default=20, help="seeds 0, 1, ..., seeds - 1; 3 with --fast (default: 20)")
    p.add_argument("--epochs", type=positive_int, default=1, help="passes over the training set per seed (default: 1)")
    p.add_argument("--hidden", type=positive_int, default=100, help="hidden width of the 784-hidden-10 MLP (default: 100)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="images per SGD step (default: 100)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="SGD learning rate (default: 0.1)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="precision of both twins (default: float32)")
    add_data_dir(p)
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error(f"--seeds must be at least 2 for a spread, got {args.seeds}")
    try:
        *splits, description = load_mnist(args.data_dir, args.fast, np.random.default_rng(0))
    except data.DatasetError as err:
        return data_error(err)
    dtype = np.dtype(args.dtype)
    splits = [a.astype(dtype) if a.dtype.kind == "f" else a for a in splits]
    seeds = range(3 if args.fast else args.seeds)
    print(f"data: {description}; 784-{args.hidden}-10 ReLU MLP, SGD lr {args.lr}, batch {args.batch_size}, "
          f"epochs {args.epochs}, {args.dtype}")
    results = []
    for seed in seeds:
        results.append(train_seed(seed, splits, args.hidden, args.epochs, args.batch_size, args.lr, dtype))
        r = results[-1]
        print(f"seed {seed:>2}: test accuracy NumPy {r['NumPy']:.2%}, torch {r['torch']:.2%}, "
              f"same prediction on {r['same']:.2%} of the test images")

    print()
    for side in ("NumPy", "torch"):
        acc = np.array([r[side] for r in results])
        best, worst = int(acc.argmax()), int(acc.argmin())
        print(f"{side}: mean {acc.mean():.2%}, standard deviation {acc.std(ddof=1):.2%}, "
              f"worst {acc[worst]:.2%} (seed {worst}), best {acc[best]:.2%} (seed {best}), "
              f"spread {acc[best] - acc[worst]:.2%}")

    if args.plot:
        fig = Figure(figsize=(8, 4))
        strip, hist = fig.subplots(1, 2)
        for i, side in enumerate(("NumPy", "torch")):
            acc = [100 * r[side] for r in results]
            strip.plot(np.full(len(acc), i) + np.linspace(-0.15, 0.15, len(acc)), acc, "o", label=side)
            hist.hist(acc, bins=10, alpha=0.5, label=side)
        strip.set(xticks=[0, 1], xticklabels=["NumPy", "torch"], ylabel="test accuracy (%)",
                  title=f"{len(results)} seeds, one dot each")
        hist.set(xlabel="test accuracy (%)", ylabel="seeds", title=description)
        hist.legend()
        for ax in (strip, hist):
            ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "seeds.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
