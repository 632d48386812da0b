"""The `mlp-parity` command: check, twin and zoo compare a NumPy network with its torch twin; convert moves weights."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

import numpy as np
import torch
from tqdm import tqdm

import scratch
from scratch.args import POSITIVE_INT, RATE, SEED, TOLERANCE, add_model_args, check_model_options, sizes_arg
from scratch.budget import check_memory
from scratch.io import check_output, json_text

from .interop import check_destination, convert
from .parity import LOSSES
from .parity.check import CheckConfig, run_check
from .parity.trajectory import OPTIMIZERS, NonFiniteLoss
from .parity.twin import TwinConfig, load_split, plot_losses, run_twin
from .zoo import add_zoo_parser

CHECK_DESCRIPTION = ("Build the NumPy model and its torch twin from one seed, compare every tensor of one forward and "
                     "backward, then train both for --steps steps on the same synthetic batches and compare weights "
                     "and optimizer state. Exits 1 when a tolerance is exceeded, 2 on bad input.")
TWIN_DESCRIPTION = ("Build the NumPy model and its torch twin from one seed, train both on the same shuffled batches "
                    "of MNIST or Fashion-MNIST, then compare the loss at every step, every weight and optimizer state "
                    "tensor, and the test predictions. Exits 1 when a tolerance is exceeded, 2 on bad input.")


def add_training_args(p: argparse.ArgumentParser, d: CheckConfig | TwinConfig, data: str) -> None:
    """--dtype, --optimizer, --lr, --batch-size, --seed and --json, shared by check and twin."""
    p.add_argument("--dtype", choices=["float64", "float32"], default=d.dtype, help=f"dtype (default: {d.dtype})")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=d.optimizer,
                   help=f"optimizer (default: {d.optimizer})")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05 sgd, 0.02 momentum and "
                   "nesterov, 0.001 adam and adamw)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default: {d.batch_size})")
    p.add_argument("--seed", type=SEED, default=d.seed, help=f"seed for weights and {data} (default: {d.seed})")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def config_of(cls: type[CheckConfig | TwinConfig], args: argparse.Namespace):
    """The command's config dataclass from its parsed options."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})


def add_check_parser(subparsers) -> None:
    d = CheckConfig()
    p = subparsers.add_parser("check", help="compare one step and a whole optimizer trajectory on synthetic data",
                              description=CHECK_DESCRIPTION)
    p.add_argument("--sizes", type=sizes_arg, default=d.sizes, help="layer widths, input first (default: 784,128,10)")
    p.add_argument("--activation", choices=sorted(scratch.ACTIVATIONS), default=d.activation,
                   help=f"hidden activation (default: {d.activation})")
    p.add_argument("--loss", choices=sorted(LOSSES), default=d.loss, help=f"loss (default: {d.loss})")
    add_training_args(p, d, "data")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default: {d.steps})")
    p.add_argument("--device", default=d.device, help="device of the torch side, cpu or cuda (default: cpu)")
    p.add_argument("--rtol", type=float, default=None, help="normwise tolerance (default: the README's table)")
    p.set_defaults(run=check_command)


def check_training_values(lr: float | None, device: str = "cpu") -> None:
    """--lr and --device, refused before any work: NaN compares False with every bound, so it is named here."""
    if lr is not None:
        RATE.check("--lr", lr)
    try:
        kind = torch.device(device)
    except RuntimeError:
        kind = None
    if kind is None or kind.type not in ("cpu", "cuda"):
        raise ValueError(f"--device: expected cpu or cuda (cuda:N for one of several GPUs), got {device!r}")
    if kind.type == "cuda" and (kind.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s); use cpu")


def check_command(args: argparse.Namespace) -> int:
    config = config_of(CheckConfig, args)
    if config.steps < 0 or config.batch_size < 1:
        raise ValueError(f"--steps must be >= 0 and --batch-size >= 1, got {config.steps} and {config.batch_size}")
    check_training_values(config.lr, config.device)
    if config.rtol is not None:
        TOLERANCE.check("--rtol", config.rtol)
    check_memory(f"{'-'.join(map(str, config.sizes))} {config.dtype} at batch {config.batch_size}", "mlp", config.sizes,
                 config.batch_size, config.dtype, copies=2)
    with tqdm(total=config.steps, desc="steps", disable=None, leave=False) as bar:
        step_report, traj_report = run_check(config, progress=bar.update)
    ok = step_report.ok and traj_report.ok
    worst = traj_report.worst if config.steps else step_report.worst
    if args.json:
        print(json_text({
            "config": dataclasses.asdict(config),
            "ok": ok,
            "step": step_report.to_dict(),
            "trajectory": traj_report.to_dict(),
            "max_loss_diff": traj_report.rows[0].max_rel,
            "worst": {"name": worst.name, "max_rel": worst.max_rel},
        }))
        return 0 if ok else 1
    arch = "-".join(map(str, config.sizes))
    print(f"mlp-parity check: {arch} {config.activation}, {config.loss}, {config.dtype}, "
          f"{config.optimizer}, batch {config.batch_size}, seed {config.seed}, torch on {config.device}\n")
    print(f"One forward and backward:\n{step_report}\n")
    print(f"After {config.steps} {config.optimizer} steps (weights and optimizer state):\n{traj_report}\n")
    print(f"worst difference: {worst.max_rel:.2e} normwise ({worst.name})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def add_twin_parser(subparsers) -> None:
    d = TwinConfig()
    p = subparsers.add_parser("twin", help="train both twins on real data for whole epochs and compare them",
                              description=TWIN_DESCRIPTION)
    p.add_argument("--dataset", choices=sorted(scratch.data.DATASETS), default=d.dataset,
                   help=f"dataset (default: {d.dataset})")
    p.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/ and FashionMNIST/raw/ "
                   "(default: $MLP_PARITY_DATA, else data/)")
    add_model_args(p, d)
    add_training_args(p, d, "shuffling")
    p.add_argument("--epochs", type=POSITIVE_INT, default=d.epochs, help=f"epochs (default: {d.epochs})")
    p.add_argument("--limit-steps", type=POSITIVE_INT, default=None, help="stop after N steps (default: every batch)")
    p.add_argument("--plot", default=None, help="write both loss curves to this PNG (default: no plot)")
    p.set_defaults(run=twin_command)


def twin_command(args: argparse.Namespace) -> int:
    config = config_of(TwinConfig, args)
    check_training_values(config.lr)
    check_model_options(config)
    scratch.data.check_model_fits(config.dataset, config.sizes, config.model)
    shape = "-".join(map(str, config.sizes)) if config.model == "mlp" else f"cnn {config.channels}"
    check_memory(f"{shape} {config.dtype} at batch {config.batch_size}", config.model, config.sizes,
                 min(config.batch_size, scratch.data.TRAIN_SIZE), config.dtype, config.channels, config.hidden,
                 copies=4 if np.dtype(config.dtype) == np.float32 else 2)  # float32 trains two torch references too
    if args.plot:
        check_output(args.plot)
    train, test = load_split(config, "train"), load_split(config, "test")
    with tqdm(total=config.planned_steps(len(train[0])), desc="steps", disable=None, leave=False) as bar:
        result = run_twin(config, train, test, progress=bar.update)
    if args.plot:
        plot_losses(result, args.plot)
    if args.json:
        print(json_text(result.to_dict()))
        return 0 if result.ok else 1
    arch = f"{'-'.join(map(str, config.sizes))} {config.activation}" if config.model == "mlp" else (
        f"cnn {config.channels} hidden {config.hidden}")
    print(f"mlp-parity twin: {arch}, {config.dtype}, {config.optimizer}, batch {config.batch_size}, "
          f"{config.dataset}, {result.steps} steps, seed {config.seed}\n")
    judged = "" if math.isfinite(result.params.rtol) else " (float32 after whole epochs: reported, not judged)"
    print(f"Weights after {result.steps} steps{judged}:\n{result.params}\n")
    print(f"Optimizer state:\n{result.optimizer_state}\n")
    print(f"training loss, worst step: {result.max_loss_diff:.2e} relative")
    if result.reference:
        ref = result.reference
        print(f"torch against itself (each batch's rows reversed): weights {ref.param_diff:.2e} normwise, "
              f"{ref.agreement:.2%} identical test predictions, accuracy gap {100 * ref.accuracy_gap:.2f} points")
    print(f"test accuracy: NumPy {result.numpy_test_acc:.2%}, torch {result.torch_test_acc:.2%} "
          f"(gap {100 * result.accuracy_gap:.2f} points, allowed {100 * result.allowed_accuracy_gap:.2f})")
    print(f"identical test predictions: {result.agreement:.2%} (required >= {result.required_agreement:.2%})")
    if args.plot:
        print(f"loss curves: {args.plot}")
    print("PASS" if result.ok else "FAIL")
    return 0 if result.ok else 1


def add_convert_parser(subparsers) -> None:
    p = subparsers.add_parser("convert", help="copy weights between .ckpt, .npz and .pt files, bit for bit",
                              description="Read a state_dict from SRC (a NumPy .npz, a torch .pt/.pth state_dict, or "
                              "a Lightning .ckpt, whose 'model.' prefix is stripped) and write it to DST (.npz or "
                              ".pt/.pth), keeping every value and dtype. Files are loaded with weights_only=True.")
    p.add_argument("src", help="weights to read (.npz, .pt, .pth or .ckpt)")
    p.add_argument("dst", help="file to write (.npz, .pt or .pth)")
    p.set_defaults(run=convert_command)


def convert_command(args: argparse.Namespace) -> int:
    check_destination(args.dst)
    print(f"wrote {convert(args.src, args.dst)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlp-parity", description=__doc__.split(":")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_check_parser(subparsers)
    add_zoo_parser(subparsers)
    add_twin_parser(subparsers)
    add_convert_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, where a closed pipe can still be answered quietly
        return code
    except BrokenPipeError:  # the reader left (`| head`): stop quietly, with the code a shell gives for SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except (ValueError, TypeError, RuntimeError, NonFiniteLoss, scratch.data.DatasetError) as err:
        print(f"mlp-parity {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
