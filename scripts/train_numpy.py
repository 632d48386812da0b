"""Train the NumPy MLP or CNN on MNIST or Fashion-MNIST with mini-batches: pytorch/examples' mnist/main.py, no torch.

    python scripts/train_numpy.py                      # 784-512-256-10 relu, Adam, 8 epochs: 98.4% on MNIST
    python scripts/train_numpy.py --dataset fashion_mnist --optimizer momentum --lr 0.05
    python scripts/train_numpy.py --model cnn --epochs 1   # the CNN (conv 32, conv 64, hidden 128)
    python scripts/train_numpy.py --dry-run            # a few batches of one epoch, for CI

Writes <out>/model.npz (the state_dict, keyed as the torch twin), <out>/history.json and <out>/history.png.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import scratch
from scratch import data, nn
from scratch import optim as soptim
from scratch.args import FACTOR, POSITIVE_INT, RATE, SEED, add_model_args, check_model_options, model_spec
from scratch.budget import check_memory
from scratch.io import OutputPathError, check_folder, check_output, lock_folder, save_json, save_npz
from scratch.models import ModelSpec, build
from scratch.plots import plot_history

DRY_RUN_BATCHES = 3
OUTPUTS = ("model.npz", "history.json", "history.png")


class Diverged(ArithmeticError):
    """The loss or the weights became NaN or infinite: the run is stopped and nothing is written."""


def train(model: scratch.Module, loss_fn: nn.CrossEntropyLoss, optimizer, x: np.ndarray, y: np.ndarray,
          batch_size: int, rng: np.random.Generator, epoch: int, dry_run: bool = False) -> tuple[float, float]:
    """One epoch over (x, y) in a shuffled order; returns the mean training loss and accuracy."""
    model.train()
    order = rng.permutation(len(x))
    batches = range(0, len(x), batch_size)
    if dry_run:
        batches = batches[:DRY_RUN_BATCHES]
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=None)
    for step, start in enumerate(bar, 1):
        idx = order[start : start + batch_size]
        logits = model(x[idx])  # (B, classes)
        loss = float(loss_fn(logits, y[idx]))
        if not math.isfinite(loss):
            raise Diverged(f"the training loss became {loss} at epoch {epoch}, batch {step}")
        optimizer.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)  # the images need no gradient
        optimizer.step()
        total_loss += loss * len(idx)
        correct += int((logits.argmax(axis=1) == y[idx]).sum())
        seen += len(idx)
        bar.set_postfix(loss=f"{loss:.4f}")
    return total_loss / seen, correct / seen


def test(model: scratch.Module, loss_fn: nn.CrossEntropyLoss, x: np.ndarray, y: np.ndarray,
         batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy over (x, y), in batches."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])  # (B, classes)
        target = y[start : start + batch_size]
        total_loss += float(loss_fn(logits, target)) * len(target)
        correct += int((logits.argmax(axis=1) == target).sum())
    return total_loss / len(x), correct / len(x)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the NumPy MLP or CNN on MNIST or Fashion-MNIST")
    parser.add_argument("--batch-size", type=POSITIVE_INT, default=128, metavar="N",
                        help="input batch size for training (default: 128)")
    parser.add_argument("--epochs", type=POSITIVE_INT, default=8, metavar="N",
                        help="number of epochs to train (default: 8)")
    parser.add_argument("--lr", type=RATE, default=1e-3, metavar="LR", help="learning rate (default: 0.001)")
    parser.add_argument("--gamma", type=FACTOR, default=0.7, metavar="M",
                        help="learning-rate step decay: multiply it by this after every epoch (default: 0.7)")
    parser.add_argument("--optimizer", choices=sorted(soptim.PRESETS), default="adam", help="optimizer (default: adam)")
    add_model_args(parser, ModelSpec(sizes=[784, 512, 256, 10]))
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="dtype (default: float32)")
    parser.add_argument("--seed", type=SEED, default=1, metavar="S",
                        help="seed of the weights and the shuffling (default: 1)")
    parser.add_argument("--dataset", choices=sorted(data.DATASETS), default="mnist", help="dataset (default: mnist)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ and FashionMNIST/raw/ (default: $MLP_PARITY_DATA, else data/)")
    parser.add_argument("--out", type=Path, default=Path("runs/train_numpy"),
                        help="folder for model.npz, history.json and history.png (default: runs/train_numpy)")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"train {DRY_RUN_BATCHES} batches of one epoch, to check that everything runs")
    return parser.parse_args(argv)


def check_before_training(args: argparse.Namespace) -> None:
    """Everything that can be refused before the data is read: the model against the data, memory, output paths."""
    check_model_options(args)
    data.check_model_fits(args.dataset, args.sizes, args.model)
    shape = "-".join(map(str, args.sizes)) if args.model == "mlp" else f"cnn {','.join(map(str, args.channels))}"
    check_memory(f"{shape} {args.dtype} at batch {args.batch_size}", args.model, args.sizes,
                 min(args.batch_size, data.TRAIN_SIZE), args.dtype, args.channels, args.hidden)
    check_folder(args.out)
    for name in OUTPUTS:
        check_output(args.out / name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_before_training(args)
        with lock_folder(args.out):
            return run(args)
    except (data.DatasetError, OutputPathError, Diverged, ValueError) as err:
        if isinstance(err, Diverged):
            err = f"training diverged: {err}; lower --lr (it was {args.lr}); nothing was written to {args.out}"
        print(f"train_numpy: error: {err}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    """Load the data, train, test after every epoch, and write the model, its history and the plot."""
    dtype = np.dtype(args.dtype)
    (train_images, y_train), (test_images, y_test) = (data.load(args.dataset, split, args.data_dir)
                                                     for split in ("train", "test"))
    x_train, x_test = (data.normalize(images, args.dataset, dtype) for images in (train_images, test_images))

    model = build(model_spec(args), dtype=dtype.type, seed=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = soptim.make(args.optimizer, model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    epochs = 1 if args.dry_run else args.epochs

    history = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": [], "lr": [], "seconds": []}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        history["lr"].append(optimizer.param_groups[0]["lr"])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a diverging run is stopped below
            train_loss, train_acc = train(model, loss_fn, optimizer, x_train, y_train, args.batch_size, rng, epoch,
                                          args.dry_run)
            test_loss, test_acc = test(model, loss_fn, x_test, y_test)
        record = {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                  "seconds": time.perf_counter() - start}
        for key, value in record.items():
            history[key].append(value)
        print(f"epoch {epoch}: train loss {train_loss:.4f}, acc {train_acc:.2%} | test loss {test_loss:.4f}, "
              f"acc {test_acc:.2%} | lr {history['lr'][-1]:.2e} | {history['seconds'][-1]:.1f} s")
        optimizer.param_groups[0]["lr"] *= args.gamma
        if not (math.isfinite(test_loss) and all(np.isfinite(p.data).all() for p in model.parameters())):
            raise Diverged(f"the weights or the test loss became NaN or infinite in epoch {epoch}")

    save_npz(args.out / "model.npz", model.state_dict())
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    save_json(args.out / "history.json", {"config": config, "history": history})
    plot_history({k: v for k, v in history.items() if k.endswith(("_loss", "_acc"))}, args.out / "history.png")
    print(f"test accuracy {history['test_acc'][-1]:.2%} after {epochs} epoch(s), {history['seconds'][-1]:.1f} s; "
          f"wrote {args.out}/model.npz, history.json, history.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
