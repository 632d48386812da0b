"""Lecture demo 10: an autoencoder for anomaly detection, trained on MNIST digits, flags Fashion-MNIST clothes.

An MLP autoencoder, 784-128-32-128-784 with ReLU and a sigmoid output, learns to reconstruct MNIST training
digits (pixels in [0, 1], mean squared error, Adam), once in NumPy and once as its torch twin, from the same
weights on the same batches. An image's anomaly score is its reconstruction error: digits, like those it learnt,
come back well; clothes do not. The ROC AUC of MNIST-test (normal) against Fashion-MNIST-test (anomalies) is
computed by hand for both models: for NumPy's scores by the rank-sum (Mann-Whitney) formula, for torch's by
counting every (normal, anomaly) pair, two routes to the same number. With --fast the run uses slices of both
datasets, or synthetic images when the files are absent.
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

SIZES = [784, 128, 32, 128, 784]


def load_pixels(data_dir: Path | None, fast: bool, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """MNIST train and test and Fashion-MNIST test as (N, 784) pixels in [0, 1]; synthetic when fast and absent."""
    if fast and (data.missing_files("mnist", data_dir) or data.missing_files("fashion_mnist", data_dir)):
        rng = np.random.default_rng(0)
        digits, clothes = rng.random((5, 784)) < 0.2, rng.random((5, 784)) < 0.5  # 5 patterns each kind

        def draw(patterns, n):
            return np.clip(patterns[rng.integers(0, 5, n)] + 0.1 * rng.standard_normal((n, 784)), 0, 1).astype(dtype)

        return draw(digits, 2000), draw(digits, 500), draw(clothes, 500), "synthetic images (data files absent)"
    pixels = {}
    for name, split in (("mnist", "train"), ("mnist", "test"), ("fashion_mnist", "test")):
        images, _ = data.load(name, split, data_dir)
        pixels[name, split] = images.reshape(len(images), -1).astype(dtype) / 255  # (N, 784)
    train, normal, anomalies = pixels["mnist", "train"], pixels["mnist", "test"], pixels["fashion_mnist", "test"]
    if fast:
        return train[:2000], normal[:500], anomalies[:500], "slices of MNIST and Fashion-MNIST"
    return train, normal, anomalies, "MNIST train, MNIST test and Fashion-MNIST test"


def autoencoder(dtype, seed: int) -> snn.Sequential:
    return snn.Sequential(*scratch.mlp(SIZES, "relu", dtype=dtype, seed=seed).layers, snn.Sigmoid())


# -- NumPy (scratch), backward by hand; the AUC by ranks ---------------------------------------------------------
def train_numpy(model: scratch.Module, x, batches: list[np.ndarray], lr: float) -> float:
    loss_fn, optimizer, losses = snn.MSELoss(), soptim.Adam(model.parameters(), lr=lr), []
    for index in batches:
        losses.append(loss_fn(model(x[index]), x[index]))  # the target is the input itself
        optimizer.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step()
    return float(np.mean(losses))


def scores_numpy(model: scratch.Module, x) -> np.ndarray:
    """Each image's mean squared reconstruction error: (N,)."""
    return np.concatenate([((model(chunk) - chunk) ** 2).mean(axis=1) for chunk in np.array_split(x, 10)])


def auc_ranks(normal: np.ndarray, anomalies: np.ndarray) -> float:
    """P(an anomaly scores above a normal image), ties counting half, from the rank sum of the anomalies."""
    scores = np.concatenate([normal, anomalies])
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    _, tie, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.bincount(tie, ranks) / counts)[tie]  # tied scores share their mean rank
    n_a, n_n = len(anomalies), len(normal)
    return float((ranks[n_n:].sum() - n_a * (n_a + 1) / 2) / (n_a * n_n))


# -- torch, backward by autograd; the AUC by pairs ---------------------------------------------------------------
def train_torch(model: nn.Module, x, batches: list[np.ndarray], lr: float) -> float:
    x = torch.from_numpy(x)
    loss_fn, optimizer, losses = nn.MSELoss(), torch.optim.Adam(model.parameters(), lr=lr), []
    for index in batches:
        batch = x[torch.from_numpy(index)]
        loss = loss_fn(model(batch), batch)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(np.mean(losses))


def scores_torch(model: nn.Module, x) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([((model(chunk) - chunk) ** 2).mean(dim=1) for chunk in torch.from_numpy(x).chunk(10)])


def auc_pairs(normal: torch.Tensor, anomalies: torch.Tensor) -> float:
    """The same probability by its definition: compare every (normal, anomaly) pair, 1000 anomalies at a time."""
    wins = 0.0
    for chunk in anomalies.split(1000):
        above = chunk[:, None] - normal[None, :]  # (chunk, n_normal)
        wins += (above > 0).sum().item() + 0.5 * (above == 0).sum().item()
    return wins / (len(normal) * len(anomalies))


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=positive_int, default=5, help="passes over MNIST train, 2 with --fast (default: 5)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per Adam step (default: 128)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate (default: 0.001)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the weights and the batch order (default: 0)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="precision of both twins (default: float32)")
    add_data_dir(p)
    args = p.parse_args(argv)
    try:
        train, normal, anomalies, description = load_pixels(args.data_dir, args.fast, np.dtype(args.dtype))
    except data.DatasetError as err:
        return data_error(err)
    epochs = 2 if args.fast else args.epochs
    rng = np.random.default_rng(args.seed)
    model = autoencoder(np.dtype(args.dtype), args.seed)
    twin = to_torch(model)
    print(f"data: {description}; autoencoder {'-'.join(map(str, SIZES))}, Adam lr {args.lr}, {args.dtype}")
    for epoch in range(1, epochs + 1):
        batches = np.array_split(rng.permutation(len(train)), max(len(train) // args.batch_size, 1))
        loss, t_loss = train_numpy(model, train, batches, args.lr), train_torch(twin, train, batches, args.lr)
        print(f"epoch {epoch}: reconstruction MSE NumPy {loss:.5f}, torch {t_loss:.5f}")

    scores = {"NumPy": (scores_numpy(model, normal), scores_numpy(model, anomalies)),
              "torch": (scores_torch(twin, normal), scores_torch(twin, anomalies))}
    auc = {"NumPy": auc_ranks(*scores["NumPy"]), "torch": auc_pairs(*scores["torch"])}
    print("\nmean reconstruction error, MNIST test / Fashion-MNIST test: "
          + "; ".join(f"{side} {float(n.mean()):.5f} / {float(a.mean()):.5f}" for side, (n, a) in scores.items()))
    print(f"ROC AUC, MNIST test (normal) against Fashion-MNIST test (anomalies): NumPy {auc['NumPy']:.4f} "
          f"(rank sum), torch {auc['torch']:.4f} (every pair)")
    same_scores = auc_pairs(*(torch.from_numpy(s) for s in scores["NumPy"]))
    print(f"both formulas on NumPy's scores: rank sum {auc['NumPy']:.6f}, every pair {same_scores:.6f}")

    if args.plot:
        fig = Figure(figsize=(10, 4))
        for ax, (side, (n, a)) in zip(fig.subplots(1, 2, sharey=True), scores.items()):
            n, a = np.log10(np.asarray(n)), np.log10(np.asarray(a))
            bins = np.linspace(min(n.min(), a.min()), max(n.max(), a.max()), 60)
            ax.hist(n, bins, alpha=0.6, label="MNIST test (normal)")
            ax.hist(a, bins, alpha=0.6, label="Fashion-MNIST test (anomalies)")
            ax.set(xlabel="log10 reconstruction error", title=f"{side}: ROC AUC {auc[side]:.4f}")
            ax.legend(fontsize=8)
        save_plot(fig, args.plot, "autoencoder_scores.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
