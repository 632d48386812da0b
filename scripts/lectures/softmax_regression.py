"""Lecture demo 4: softmax regression on MNIST, Model(x) = softmax(W x + b), in NumPy and torch side by side.

Both sides start from the same weights and see the same mini-batches, so their test accuracies agree to the
last few predictions. The softmax sits inside the cross-entropy loss (it is applied to the logits W x + b);
the predicted class is the argmax of the logits, which is the argmax of the softmax. Then the same with one
hidden ReLU layer. With --fast the run uses a slice of MNIST, or synthetic data when the files are absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from common import add_data_dir, data_error, parser, positive_float, positive_int, save_plot, seed
from matplotlib.figure import Figure
from torch import nn

import scratch
import scratch.nn as snn
from scratch import data
from scratch import optim as soptim
from torch_impl import to_torch


def load_mnist(data_dir: Path | None, fast: bool, rng: np.random.Generator):
    """(x_train, y_train, x_test, y_test, description); with `fast`, synthetic data when the files are absent."""
    if fast and data.missing_files("mnist", data_dir):
        prototypes = rng.standard_normal((10, 784))
        return (*synthetic(rng, prototypes, 2000), *synthetic(rng, prototypes, 1000),
                "synthetic data (MNIST files absent)")
    train_images, y_train = data.load("mnist", "train", data_dir)
    test_images, y_test = data.load("mnist", "test", data_dir)
    x_train, x_test = data.normalize(train_images, "mnist"), data.normalize(test_images, "mnist")  # (N, 784) float32
    if fast:
        x_train, y_train, x_test, y_test = x_train[:2000], y_train[:2000], x_test[:1000], y_test[:1000]
        return x_train, y_train, x_test, y_test, f"a slice of MNIST ({len(y_train)} train, {len(y_test)} test)"
    return x_train, y_train, x_test, y_test, f"MNIST ({len(y_train)} train, {len(y_test)} test)"


def synthetic(rng: np.random.Generator, prototypes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n images: a faint copy of one of the 10 (10, 784) class prototypes under unit noise, and their classes."""
    y = rng.integers(0, 10, n)
    x = 0.1 * prototypes[y] + rng.standard_normal((n, 784))  # (n, 784)
    return x.astype(np.float32), y


# -- NumPy (scratch), backward by hand --------------------------------------------------------------------------
def train_numpy(model: scratch.Module, x, y, batches: list[np.ndarray], lr: float) -> float:
    """One epoch of mini-batch SGD over `batches` (index arrays); returns the mean loss."""
    loss_fn = snn.CrossEntropyLoss()
    optimizer = soptim.SGD(model.parameters(), lr=lr)
    losses = []
    for index in batches:
        logits = model(x[index])  # (B, 784) -> (B, 10)
        losses.append(loss_fn(logits, y[index]))
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
    return float(np.mean(losses))


def predict_numpy(model: scratch.Module, x) -> np.ndarray:
    return model(x).argmax(axis=1)


# -- torch, backward by autograd --------------------------------------------------------------------------------
def train_torch(model: nn.Module, x, y, batches: list[np.ndarray], lr: float) -> float:
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for index in batches:
        index = torch.from_numpy(index)
        logits = model(x[index])
        loss = loss_fn(logits, y[index])
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(np.mean(losses))


def predict_torch(model: nn.Module, x) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(dim=1).numpy()


def run(name: str, model: scratch.Module, splits, epochs: int, batch_size: int, lr: float,
        rng: np.random.Generator) -> dict[str, list[float]]:
    """Train the scratch model and its torch twin side by side; print and return test accuracy by epoch."""
    x_train, y_train, x_test, y_test = splits
    twin = to_torch(model)
    history = {"NumPy": [], "torch": []}
    print(f"\n{name}:")
    for epoch in range(1, epochs + 1):
        batches = np.array_split(rng.permutation(len(y_train)), max(len(y_train) // batch_size, 1))
        loss = train_numpy(model, x_train, y_train, batches, lr)
        t_loss = train_torch(twin, x_train, y_train, batches, lr)
        pred, t_pred = predict_numpy(model, x_test), predict_torch(twin, x_test)
        history["NumPy"].append(float(np.mean(pred == y_test)))
        history["torch"].append(float(np.mean(t_pred == y_test)))
        print(f"epoch {epoch}: NumPy loss {loss:.4f}, test accuracy {history['NumPy'][-1]:.2%} | "
              f"torch loss {t_loss:.4f}, test accuracy {history['torch'][-1]:.2%} | "
              f"same prediction on {np.mean(pred == t_pred):.2%} of the test images")
    return history


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=positive_int, default=5, help="passes over the training set, 3 with --fast "
                   "(default: 5)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="images per SGD step (default: 100)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="SGD learning rate (default: 0.1)")
    p.add_argument("--hidden", type=positive_int, default=100, help="hidden width of the second model (default: 100)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the weights and the batch order (default: 0)")
    add_data_dir(p)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    try:
        *splits, description = load_mnist(args.data_dir, args.fast, rng)
    except data.DatasetError as err:
        return data_error(err)
    epochs = 3 if args.fast else args.epochs
    print(f"data: {description}; mini-batch SGD, batch {args.batch_size}, lr {args.lr}, epochs {epochs}")

    softmax_regression = snn.Sequential(snn.Linear(784, 10, rng=rng))
    hidden = scratch.mlp([784, args.hidden, 10], "relu", seed=args.seed)
    results = {
        "softmax regression": run("softmax regression, no hidden layer", softmax_regression, splits, epochs,
                                  args.batch_size, args.lr, rng),
        f"one hidden layer of {args.hidden}": run(f"one hidden layer of {args.hidden} ReLU units", hidden, splits,
                                                  epochs, args.batch_size, args.lr, rng),
    }
    print()
    for name, history in results.items():
        print(f"{name}: test accuracy NumPy {history['NumPy'][-1]:.2%}, torch {history['torch'][-1]:.2%}")

    if args.plot:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        for name, history in results.items():
            for side, accuracy in history.items():
                ax.plot(range(1, epochs + 1), accuracy, "--" if side == "torch" else "-", marker="o",
                        label=f"{name} ({side})")
        ax.set(xlabel="epoch", ylabel="test accuracy", title=description)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "softmax_regression_accuracy.png")

        fig = Figure(figsize=(10, 2.2))
        weights = softmax_regression[0].weight.data.reshape(10, 28, 28)
        for digit, ax in enumerate(fig.subplots(1, 10)):
            ax.imshow(weights[digit], cmap="RdBu", vmin=-np.abs(weights).max(), vmax=np.abs(weights).max())
            ax.set_title(str(digit))
            ax.axis("off")
        fig.suptitle("softmax regression: the weights W of each class (red negative, blue positive)")
        save_plot(fig, args.plot, "softmax_regression_weights.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
