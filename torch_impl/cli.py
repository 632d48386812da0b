"""The `mlp-parity` command: `check` compares the NumPy network with its torch twin, step by step."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from tqdm import tqdm

import scratch

from .check import CheckConfig, run_check
from .parity import LOSSES
from .trajectory import OPTIMIZERS, NonFiniteLoss


def sizes_arg(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 784,128,10, got {text!r}")
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected at least two positive widths such as 784,128,10, got {text!r}")
    return sizes


def add_check_parser(subparsers) -> None:
    d = CheckConfig()
    p = subparsers.add_parser("check", help="compare one step and a whole optimizer trajectory on synthetic data",
                              description="Build the NumPy model and its torch twin from one seed, compare every "
                              "tensor of one forward and backward, then train both for --steps steps on the same "
                              "synthetic batches and compare weights and optimizer state. Exits 1 when a tolerance "
                              "is exceeded.")
    p.add_argument("--sizes", type=sizes_arg, default=d.sizes, help="layer widths, input first (default: 784,128,10)")
    p.add_argument("--activation", choices=sorted(scratch.ACTIVATIONS), default=d.activation,
                   help=f"hidden activation (default: {d.activation})")
    p.add_argument("--loss", choices=sorted(LOSSES), default=d.loss, help=f"loss (default: {d.loss})")
    p.add_argument("--dtype", choices=["float64", "float32"], default=d.dtype, help=f"dtype (default: {d.dtype})")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=d.optimizer,
                   help=f"optimizer (default: {d.optimizer})")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05 sgd, 0.02 momentum and "
                   "nesterov, 0.001 adam and adamw)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default: {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default: {d.batch_size})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed for weights and data (default: {d.seed})")
    p.add_argument("--device", default=d.device, help="device of the torch side, cpu or cuda (default: cpu)")
    p.add_argument("--rtol", type=float, default=None, help="normwise tolerance (default: the README's table)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(run=check_command)


def check_command(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(CheckConfig)}
    config = CheckConfig(**{k: v for k, v in vars(args).items() if k in fields})
    if config.steps < 0 or config.batch_size < 1:
        raise ValueError(f"--steps must be >= 0 and --batch-size >= 1, got {config.steps} and {config.batch_size}")
    with tqdm(total=config.steps, desc="steps", disable=None, leave=False) as bar:
        step_report, traj_report = run_check(config, progress=bar.update)
    ok = step_report.ok and traj_report.ok
    worst = traj_report.worst if config.steps else step_report.worst
    if args.json:
        print(json.dumps({
            "config": dataclasses.asdict(config),
            "ok": ok,
            "step": step_report.to_dict(),
            "trajectory": traj_report.to_dict(),
            "max_loss_diff": traj_report.rows[0].max_rel,
            "worst": {"name": worst.name, "max_rel": worst.max_rel},
        }, indent=2))
        return 0 if ok else 1
    arch = "-".join(map(str, config.sizes))
    print(f"mlp-parity check: {arch} {config.activation}, {config.loss}, {config.dtype}, "
          f"{config.optimizer}, batch {config.batch_size}, seed {config.seed}, torch on {config.device}\n")
    print(f"One forward and backward:\n{step_report}\n")
    print(f"After {config.steps} {config.optimizer} steps (weights and optimizer state):\n{traj_report}\n")
    print(f"worst difference: {worst.max_rel:.2e} normwise ({worst.name})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlp-parity", description=__doc__.split(":")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_check_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, RuntimeError, NonFiniteLoss, scratch.data.DatasetError) as err:
        print(f"mlp-parity {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
