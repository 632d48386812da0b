"""Lecture demo 7: how much of the model can we trim and still have a useful model? Magnitude pruning, NumPy and torch.

The MNIST MLP is trained once (NumPy, backward by hand), copied into its torch twin, then pruned to each fraction
from the same trained weights: in NumPy by a mask zeroing each layer's smallest weights by magnitude, in torch by
`torch.nn.utils.prune.l1_unstructured`, which keeps its mask beside the weight. Both masks are compared, and both
pruned models are scored on the test set: the two accuracy curves agree point for point. With --fast the run
uses a slice of MNIST, or synthetic data when the files are absent.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
from common import add_data_dir, data_error, parser, positive_float, positive_int, save_plot, seed
from matplotlib.figure import Figure
from softmax_regression import load_mnist, predict_numpy, predict_torch, train_numpy
from torch import nn
from torch.nn.utils import prune

import scratch
import scratch.nn as snn
from scratch import data
from torch_impl import to_torch

FRACTIONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99]


# -- NumPy: a mask per layer -----------------------------------------------------------------------------------
def magnitude_mask(weight: np.ndarray, fraction: float) -> np.ndarray:
    """1 for the weights kept, 0 for the round(fraction * size) smallest in magnitude, as l1_unstructured does."""
    k = round(fraction * weight.size)  # Python's round, as torch's _compute_nparams_toprune
    mask = np.ones(weight.size, weight.dtype)
    mask[np.argsort(np.abs(weight), axis=None, kind="stable")[:k]] = 0
    return mask.reshape(weight.shape)


def prune_numpy(model: snn.Sequential, fraction: float) -> tuple[snn.Sequential, list[np.ndarray]]:
    """A copy of `model` whose Linear weights are multiplied by their magnitude masks; the masks."""
    pruned, masks = copy.deepcopy(model), []
    for layer in pruned.layers:
        if isinstance(layer, snn.Linear):
            masks.append(magnitude_mask(layer.weight.data, fraction))
            layer.weight.data *= masks[-1]
    return pruned, masks


# -- torch: torch.nn.utils.prune ----------------------------------------------------------------------------------
def prune_torch(model: nn.Sequential, fraction: float) -> tuple[nn.Sequential, list[np.ndarray]]:
    pruned, masks = copy.deepcopy(model), []
    for layer in pruned:
        if isinstance(layer, nn.Linear):
            prune.l1_unstructured(layer, "weight", amount=fraction)  # weight = weight_orig * weight_mask
            masks.append(layer.weight_mask.numpy())
    return pruned, masks


def mask_differences(masks: list[np.ndarray], t_masks: list[np.ndarray], model: snn.Sequential) -> tuple[int, int]:
    """(weights masked differently, of which ties: equal magnitudes at the cut, where either choice is right)."""
    weights = [layer.weight.data for layer in model.layers if isinstance(layer, snn.Linear)]
    differ = ties = 0
    for mask, t_mask, w in zip(masks, t_masks, weights):
        other = mask != t_mask
        differ += int(other.sum())
        cut = np.abs(w)[mask == 0].max(initial=0.0)  # the largest magnitude the NumPy mask removed
        ties += int((other & (np.abs(w) == cut)).sum())
    return differ, ties


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=positive_int, default=3, help="training epochs before pruning, 1 with --fast (default: 3)")
    p.add_argument("--hidden", type=positive_int, default=300, help="hidden width of the 784-hidden-10 MLP (default: 300)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="SGD learning rate (default: 0.1)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the weights and the batch order (default: 0)")
    add_data_dir(p)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    try:
        x_train, y_train, x_test, y_test, description = load_mnist(args.data_dir, args.fast, rng)
    except data.DatasetError as err:
        return data_error(err)
    epochs = 1 if args.fast else args.epochs
    model = scratch.mlp([784, args.hidden, 10], "relu", seed=args.seed)
    for _ in range(epochs):
        train_numpy(model, x_train, y_train, np.array_split(rng.permutation(len(y_train)), len(y_train) // 100),
                    args.lr)
    twin = to_torch(model)
    print(f"data: {description}; 784-{args.hidden}-10 ReLU MLP trained by NumPy (epochs: {epochs}), copied into torch")

    print(f"\n{'pruned':>7} {'weights left':>13} {'NumPy':>8} {'torch':>8} {'same predictions':>17} {'masks':>22}")
    curves = {"NumPy": [], "torch": []}
    for fraction in FRACTIONS:
        pruned, masks = prune_numpy(model, fraction)
        t_pruned, t_masks = prune_torch(twin, fraction)
        pred, t_pred = predict_numpy(pruned, x_test), predict_torch(t_pruned, x_test)
        curves["NumPy"].append(float(np.mean(pred == y_test)))
        curves["torch"].append(float(np.mean(t_pred == y_test)))
        differ, ties = mask_differences(masks, t_masks, model)
        agree = "identical" if differ == 0 else f"{differ} differ ({ties} ties)"
        left = sum(int(mask.sum()) for mask in masks)
        print(f"{fraction:>7.0%} {left:>13,} {curves['NumPy'][-1]:>8.2%} {curves['torch'][-1]:>8.2%} "
              f"{np.mean(pred == t_pred):>17.2%} {agree:>22}")
    same = curves["NumPy"] == curves["torch"]
    print(f"\nthe NumPy and torch curves agree at every point: {'yes' if same else 'no'}")
    useful = [f for f, acc in zip(FRACTIONS, curves["NumPy"]) if acc >= curves["NumPy"][0] - 0.01]
    print(f"the largest fraction pruned within 1 point of the unpruned accuracy: {max(useful):.0%}")

    if args.plot:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.plot(FRACTIONS, curves["NumPy"], "-o", label="NumPy (magnitude mask)")
        ax.plot(FRACTIONS, curves["torch"], "--x", label="torch (prune.l1_unstructured)")
        ax.set(xlabel="fraction of each layer's weights pruned", ylabel="test accuracy", title=description)
        ax.legend()
        ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "pruning.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
