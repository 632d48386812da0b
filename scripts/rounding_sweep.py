"""Measure the float32 rounding rule (torch_impl/parity/rounding.py): false FAILs on correct code, bugs still caught.

    python scripts/rounding_sweep.py step --configs 3000      # one forward+backward, 1-unit hidden layers
    python scripts/rounding_sweep.py adam --seeds 200         # check --loss mse --optimizer adam --lr 1e-2 --steps 1
    python scripts/rounding_sweep.py trajectory --optimizer momentum --seeds 30   # check's default 784-128-10, float32
    python scripts/rounding_sweep.py zoo --seeds 20           # every zoo bug, its case cast to float32
    python scripts/rounding_sweep.py cost                     # what measuring torch's own rounding costs

A bug run trains the NumPy side with its learning rate 10% too high (torch keeps the right one). Run it with
OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from scratch import optim as soptim
from torch_impl import zoo
from torch_impl.parity import compare, rounding
from torch_impl.parity.check import CheckConfig, build, run_check, synthetic_batch
from torch_impl.parity.rounding import WITHIN, nudged, scratch_copy

ACTIVATIONS = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "identity"]
LOSSES = ["cross_entropy", "mse", "nll", "bce"]


def random_config(rng: np.random.Generator) -> CheckConfig:
    """3 to 5 layers of widths 1 to 12, one hidden layer of width 1 (a bias gradient that sums over the batch and
    cancels), any activation and loss, batch 1 to 9."""
    sizes = [int(v) for v in rng.integers(1, 13, int(rng.integers(3, 6)))]
    sizes[int(rng.integers(1, len(sizes) - 1))] = 1
    return CheckConfig(sizes=sizes, activation=str(rng.choice(ACTIVATIONS)), loss=str(rng.choice(LOSSES)),
                       dtype="float32", batch_size=int(rng.integers(1, 10)), seed=int(rng.integers(0, 2**16)))


def ratios(report) -> list[float]:
    """|scratch - torch| / torch's own rounding, normwise, of every row of a report where the rule measured it."""
    return [row.max_rel / row.rounding for row in report.rows if row.rounding]


def summary(name: str, fails: list, table_fails: int, runs: int, judged: list[float]) -> None:
    worst = f"; worst |scratch - torch| / torch's rounding {max(judged):.2f}" if judged else ""
    print(f"{name}: {runs} runs, the table alone FAILs {table_fails}, the rule FAILs {len(fails)} {fails[:10]}{worst}")


def step_sweep(args) -> None:
    """With --every-row, atol=-inf fails every row of the table, so torch's rounding is measured everywhere: the
    distribution of |scratch - torch| / torch's rounding over rows beyond 1% of the table is what sets the factor."""
    rng = np.random.default_rng(args.seed)
    fails, table_fails, judged, tail = [], 0, [], []
    for _ in range(args.configs):
        config = random_config(rng)
        model, twin = build(config)
        x, y = synthetic_batch(np.random.default_rng(config.seed), config)
        report = compare(model, twin, x, target=y, loss=config.loss)
        table_fails += any(row.note.startswith(WITHIN) for row in report.rows) or not report.ok
        judged += ratios(report)
        if not report.ok:
            fails.append(config)
        if args.every_row:
            every = compare(build(config)[0], twin, x, target=y, loss=config.loss, atol=-np.inf)
            tail += [row.max_rel / row.rounding for row in every.rows
                     if row.rounding and row.max_rel > 0.01 * every.rtol]
    summary("one step, correct code", fails, table_fails, args.configs, judged)
    if tail:
        q = np.quantile(tail, [0.5, 0.99, 0.999])
        print(f"every row beyond 1% of the table ({len(tail)}): |scratch - torch| / torch's rounding median {q[0]:.2f}, "
              f"99% {q[1]:.2f}, 99.9% {q[2]:.2f}, max {max(tail):.2f}")


def lr_off(cls):
    """Make `cls`'s scratch update use a learning rate 10% too high; returns the function that undoes it."""
    update = cls.update

    def update_off(self, p, grad, state, group):
        update(self, p, grad, state, {**group, "lr": 1.1 * group["lr"]})

    cls.update = update_off
    return lambda: setattr(cls, "update", update)


def trajectory_sweep(configs: list[CheckConfig], cls, name: str) -> None:
    fails, table_fails, judged, missed, kinks = [], 0, [], [], 0
    for config in configs:
        step, report = run_check(config)
        table_fails += report.torch_drift is not None  # measured only where the table alone fails
        judged += ratios(report)
        kinks += report.kinks_taken
        if not (step.ok and report.ok):
            fails.append(config.seed)
        undo = lr_off(cls)
        try:
            if run_check(config)[1].ok:
                missed.append(config.seed)
        finally:
            undo()
    summary(f"{name}, correct code", fails, table_fails, len(configs), judged)
    print(f"{name}: ReLU inputs where torch took NumPy's side: {kinks}; learning rate 10% off PASSes on "
          f"{len(missed)} of {len(configs)} {missed[:10]}")


def zoo_sweep(args) -> None:
    """Each zoo case cast to float32 (weights, inputs, targets): caught, and named as in float64."""
    zoo.cases.DTYPE = np.float32  # the tolerance of the zoo's own trajectory case
    wrong = []
    for seed in range(args.seeds):
        for bug in zoo.BUGS:
            case = bug.make(seed)
            options = {k: nudged(v, None, np.float32) if k in ("target", "dout") else v for k, v in case.options.items()}
            report = case.run(scratch_copy(case.scratch_module, np.float32), case.torch_module.float(),
                              *nudged(list(case.inputs), None, np.float32), **options)
            if report.ok or report.first_failure.name != bug.expected:
                wrong.append((seed, bug.name, report.first_failure.name if report.first_failure else None))
    print(f"zoo in float32: {len(zoo.BUGS)} bugs x {args.seeds} seeds, missed or misnamed: {len(wrong)} {wrong[:10]}")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cost(args) -> None:
    """Medians of interleaved rounds: each run with the rule against the same run with the table as an explicit rtol
    (the same verdict for passing rows, nothing measured)."""
    config = CheckConfig(sizes=[9, 1, 2], activation="tanh", loss="cross_entropy", dtype="float32", batch_size=8,
                         seed=31398)
    model, twin = build(config)
    x, y = synthetic_batch(np.random.default_rng(config.seed), config)
    adam = CheckConfig(loss="mse", dtype="float32", optimizer="adam", lr=1e-2, steps=1, seed=0)
    default = CheckConfig(dtype="float32", steps=100, seed=0)
    pairs = {
        "compare, one ill-conditioned float32 step (9-1-2)": (
            lambda: compare(model, twin, x, target=y, loss="cross_entropy"),
            lambda: compare(model, twin, x, target=y, loss="cross_entropy", rtol=1e-5)),
        "check --loss mse --optimizer adam --lr 1e-2 --steps 1 (measured)": (
            lambda: run_check(adam), lambda: run_check(CheckConfig(**{**vars(adam), "rtol": 1e-4}))),
        "check float32, 784-128-10 relu, 100 adam steps (kinks followed, nothing measured)": (
            lambda: run_check(default), lambda: run_check(CheckConfig(**{**vars(default), "rtol": 1e-4}))),
    }
    for name, (with_rule, table) in pairs.items():
        times = [(timed(with_rule), timed(table)) for _ in range(args.rounds)]
        ratio = [a / b for a, b in times]
        print(f"{name}: {statistics.median(a for a, _ in times) * 1e3:.1f} ms with the rule, "
              f"{statistics.median(b for _, b in times) * 1e3:.1f} ms without; ratio median {statistics.median(ratio):.2f} "
              f"(min {min(ratio):.2f}, max {max(ratio):.2f}, {args.rounds} rounds)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("step", help="random one-step float32 configurations with a 1-unit hidden layer")
    p.add_argument("--configs", type=int, default=3000, help="configurations (default: 3000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the configurations (default: 1)")
    p.add_argument("--every-row", action="store_true", help="measure torch's rounding for every row too")
    p.add_argument("--as-is-only", action="store_true", help="one sample of torch's rounding: the run as is")
    p = sub.add_parser("adam", help="one float32 Adam step at lr 1e-2 on MSE, over seeds")
    p.add_argument("--seeds", type=int, default=200, help="seeds 0..N-1 (default: 200)")
    p = sub.add_parser("trajectory", help="the default check in float32, over seeds")
    p.add_argument("--optimizer", default="momentum", help="optimizer preset (default: momentum)")
    p.add_argument("--seeds", type=int, default=30, help="seeds 0..N-1 (default: 30)")
    p = sub.add_parser("zoo", help="the bug zoo in float32")
    p.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default: 20)")
    p = sub.add_parser("cost", help="time with and without the rule")
    p.add_argument("--rounds", type=int, default=11, help="interleaved rounds (default: 11)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: handing work between threads costs more than it saves
    if args.what == "step":
        if args.as_is_only:
            rounding.NUDGES = ()
        step_sweep(args)
    elif args.what == "adam":
        configs = [CheckConfig(loss="mse", dtype="float32", optimizer="adam", lr=1e-2, steps=1, seed=s)
                   for s in range(args.seeds)]
        trajectory_sweep(configs, soptim.Adam, "one Adam step near eps")
    elif args.what == "trajectory":
        configs = [CheckConfig(dtype="float32", optimizer=args.optimizer, seed=s) for s in range(args.seeds)]
        cls = soptim.SGD if args.optimizer in ("sgd", "momentum", "nesterov") else soptim.Adam
        trajectory_sweep(configs, cls, f"check float32 {args.optimizer}")
    elif args.what == "zoo":
        zoo_sweep(args)
    else:
        cost(args)


if __name__ == "__main__":
    main()
