"""Time MNIST training in NumPy, torch and Lightning on a shared machine: rows take turns, ratios carry their spread.

    python scripts/benchmark.py --json runs/benchmark.json      # every CPU group, and the GPU rows where CUDA is
    python scripts/benchmark.py --groups cnn,cnn_bn             # some groups only
    python scripts/benchmark.py --threads 2                     # also a flagged multi-thread section
    python scripts/benchmark.py --synthetic --limit-steps 2 --rounds 2 --groups mlp,layers    # a smoke run, for CI

One thread unless OMP_NUM_THREADS says otherwise, set before NumPy and torch load: on a shared machine a second
thread makes every parallel region wait for a descheduled one. The rows of a group (benchmark_rows.py) are compared
with each other: after one discarded warm-up each, they take turns for --rounds rounds in an order that rotates
every round, each timing one block (a quarter epoch; --cnn-steps steps for the CNNs; Lightning times epoch 2 of
max_epochs=2). A ratio is the median of the per-round ratios, with quartiles and range; an IQR half-width over 10%
of the median, or fewer than 12 rounds, marks it unreliable. After every round a --peak-size square matmul
(NumPy's and torch's) is timed; the best of all is the peak. FLOPs count only the products actually done
(benchmark_rows.train_flops); a fraction of the peak over 100% means a wrong count or peak, and fails the run.
When OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set, the CPU rows run again in a subprocess with both unset.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy and torch start their thread pools

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from benchmark_rows import Row, group_rows, timed

from scratch import data
from scratch.io import save_json
from torch_impl.parity.trajectory import OPTIMIZERS

OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
GROUPS = ("mlp", "lightning", "cnn", "cnn_bn", "layers", "gpu")
RATIOS = {  # group -> (numerator row, denominator row, target: at most this many times the denominator's time)
    "mlp": [("numpy_float32", "torch_eager_float32", 0.6)],
    "lightning": [("lightning_cpu", "torch_loop_cpu", 1.15)],
    "cnn": [("numpy_cnn", "torch_cnn", 1.2)],
    "cnn_bn": [("numpy_cnn_bn", "torch_cnn_bn", 1.2)],
    "layers": [("numpy_maxpool", "torch_maxpool", 1.0), ("numpy_conv_forward", "torch_conv_forward", None)],
    "gpu": [("lightning_gpu", "torch_gpu", 1.15), ("lightning_gpu_resident", "torch_gpu_resident", 1.15)],
}
MIN_GFLOPS = {"numpy_conv_forward": 60}  # row -> target rate


@dataclass
class Ratio:
    """numerator / denominator, time per sample, over the rounds: median, quartiles, range."""

    name: str
    target: float | None
    median: float
    q1: float
    q3: float
    low: float
    high: float
    unreliable: bool  # IQR half-width over 10% of the median


def peak_gflops(n: int, device: str, dtype: str) -> float:
    """GFLOP/s of an n x n x n matrix product, the best of 3: the faster of NumPy's and torch's on the CPU."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    t_a = torch.from_numpy(a).to(device)
    products = [lambda: t_a @ t_a, *([lambda: a @ a] if device == "cpu" else [])]
    return 2 * n**3 / min(timed(product, device) for product in products for _ in range(3)) / 1e9


def run_rounds(rows: list[Row], args, peaks: dict[str, float]) -> None:
    """One discarded warm-up per row, then --rounds rounds in rotating order, the peak timed after each."""
    for row in rows:
        row.block()
    device = rows[0].device
    for r in range(args.rounds):
        for row in rows[r % len(rows) :] + rows[: r % len(rows)]:
            row.seconds.append(row.block())
        for dtype in ("float32", "float64") if device == "cpu" else ("float32",):
            gflops = peak_gflops(args.peak_size * (4 if device == "cuda" else 1), device, dtype)
            peaks[f"{device}_{dtype}"] = max(peaks.get(f"{device}_{dtype}", 0.0), gflops)


def summary(row: Row, peaks: dict[str, float]) -> dict:
    """A row's median block, and its GFLOP/s and fraction of the peak where FLOPs are counted (per round: max too)."""
    seconds = float(np.median(row.seconds))
    out = {"name": row.name, "dtype": row.dtype, "device": row.device, "samples_per_block": row.samples,
           "seconds_per_block": seconds, "samples_per_s": row.samples / seconds, "seconds": row.seconds}
    if row.flops:
        rates = [row.flops / s / 1e9 for s in row.seconds]
        peak = peaks[f"{row.device}_{row.dtype}"]
        out.update(gflops=float(np.median(rates)), peak_fraction=float(np.median(rates)) / peak,
                   peak_fraction_max=max(rates) / peak)
    return out


def ratio(num: Row, den: Row, target: float | None, rounds: int) -> Ratio:
    """The two rows' time per sample, round by round: their ratio's median, quartiles and range."""
    per_round = [(a / num.samples) / (b / den.samples) for a, b in zip(num.seconds, den.seconds, strict=True)]
    q1, median, q3 = (float(q) for q in np.percentile(per_round, [25, 50, 75]))
    return Ratio(f"{num.name} / {den.name}", target, median, q1, q3, min(per_round), max(per_round),
                 (q3 - q1) / 2 > 0.1 * median or rounds < 12)


def blas_kernel() -> str:
    """NumPy's BLAS and the kernel it runs: threadpoolctl names the kernel where it is installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')} (install threadpoolctl to name the kernel)"
    return "; ".join(f"{i['internal_api']} {i['version']} {i.get('architecture')}, {i['num_threads']} threads"
                     for i in threadpool_info() if i["user_api"] == "blas")


def environment() -> dict:
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), **{k: os.environ.get(k) for k in OPENBLAS},
            "numpy": np.__version__, "numpy_blas": blas_kernel(), "torch": torch.__version__,
            "torch_backend": f"{torch.get_num_threads()} threads, CPU capability "
                             f"{torch.backends.cpu.get_cpu_capability()}, MKL {torch.backends.mkl.is_available()}, "
                             f"oneDNN {torch.backends.mkldnn.is_available()}",
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "cpus": os.cpu_count()}


def run_section(name: str, groups: list[str], x: np.ndarray, y: np.ndarray, args) -> dict:
    """Every group's rows in rounds; the rows' medians and the ratios, printed and returned."""
    env, peaks, results = environment(), {}, {}
    print(f"\n== {name}: " + ", ".join(f"{k}={v}" for k, v in env.items()), flush=True)
    for group in groups:
        rows, load = group_rows(group, x, y, args), [os.getloadavg()[0]]
        run_rounds(rows, args, peaks)
        load.append(os.getloadavg()[0])
        by_name = {row.name: row for row in rows}
        openblas_set = any(env[k] for k in OPENBLAS)
        ratios = [ratio(by_name[a], by_name[b], 1.5 if openblas_set and group.startswith("cnn") else target,
                        args.rounds) for a, b, target in RATIOS[group]]
        results[group] = {"rows": [summary(row, peaks) for row in rows], "ratios": [asdict(r) for r in ratios],
                          "load_average": load}
        print_group(group, results[group], args)
    return {"section": name, "environment": env, "peaks_gflops": peaks, "groups": results}


def print_group(group: str, result: dict, args) -> None:
    print(f"-- {group}: {args.rounds} rounds, load average {result['load_average'][0]:.2f} -> "
          f"{result['load_average'][1]:.2f}")
    print(f"{'row':<24} {'s/block':>9} {'samples/s':>11} {'GFLOP/s':>9} {'of peak':>8}")
    for row in result["rows"]:
        flops = f"{row['gflops']:>9.1f} {row['peak_fraction']:>8.1%}" if "gflops" in row else ""
        if row["name"] in MIN_GFLOPS:
            target = MIN_GFLOPS[row["name"]]
            flops += f"  target >= {target} GFLOP/s: " + ("met" if row["gflops"] >= target else "MISSED")
        print(f"{row['name']:<24} {row['seconds_per_block']:>9.3f} {row['samples_per_s']:>11,.0f} {flops}")
    for r in result["ratios"]:
        verdict = "" if r["target"] is None else f", target <= {r['target']}: " + (
            "met" if r["median"] <= r["target"] else "MISSED")
        flag = " UNRELIABLE (IQR half-width over 10%, or under 12 rounds)" if r["unreliable"] else ""
        print(f"{r['name']}: {r['median']:.2f}x (IQR {r['q1']:.2f}-{r['q3']:.2f}, range {r['low']:.2f}-"
              f"{r['high']:.2f}){verdict}{flag}")


def child_section(name: str, groups: list[str], args, env: dict) -> dict | None:
    """The same benchmark in a fresh process with `env`: its section, or None when it failed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "section.json"
        argv = [sys.executable, __file__, "--section", name, "--json", str(out), "--groups", ",".join(groups),
                "--batch-size", str(args.batch_size), "--rounds", str(args.rounds), "--optimizer", args.optimizer,
                "--cnn-steps", str(args.cnn_steps), "--peak-size", str(args.peak_size),
                *(["--limit-steps", str(args.limit_steps)] if args.limit_steps else []),
                *(["--synthetic"] if args.synthetic else []), *(["--data-dir", args.data_dir] if args.data_dir else [])]
        code = subprocess.run(argv, env=env, check=False).returncode
        return json.loads(out.read_text())["sections"][0] if code == 0 else None


def fraction_errors(sections: list[dict]) -> list[str]:
    return [f"{s['section']}, {row['name']}: {row['peak_fraction']:.0%} of the peak"
            for s in sections for group in s["groups"].values() for row in group["rows"]
            if row.get("peak_fraction", 0) > 1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time MNIST training in NumPy, torch and Lightning, interleaved")
    parser.add_argument("--groups", default=None, help=f"comma-separated, from {','.join(GROUPS)} "
                        "(default: all; gpu only where CUDA is present)")
    parser.add_argument("--rounds", type=int, default=12, metavar="N", help="rounds per group (default: 12)")
    parser.add_argument("--batch-size", type=int, default=128, metavar="N", help="batch size (default: 128)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="optimizer (default: adam)")
    parser.add_argument("--cnn-steps", type=int, default=30, metavar="N",
                        help="steps per block for the CNN rows (default: 30, about 3 s)")
    parser.add_argument("--limit-steps", type=int, default=None, metavar="N",
                        help="N batches of data and N steps per block, for a smoke run (default: a quarter epoch)")
    parser.add_argument("--peak-size", type=int, default=1024, metavar="N",
                        help="size of the square matmul that measures the peak (default: 1024)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="when > 1, also a flagged section with OMP_NUM_THREADS=N (default: 1, none)")
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/ (default: $MLP_PARITY_DATA, "
                        "else data/)")
    parser.add_argument("--synthetic", action="store_true", help="random data of MNIST's shape instead of MNIST")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    parser.add_argument("--section", default=None, help=argparse.SUPPRESS)  # set in the subprocesses
    args = parser.parse_args(argv)
    for flag in ("rounds", "batch_size", "cnn_steps", "limit_steps", "peak_size", "threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    groups = args.groups.split(",") if args.groups else [g for g in GROUPS if g != "gpu" or torch.cuda.is_available()]
    if unknown := sorted(set(groups) - set(GROUPS)):
        parser.error(f"unknown groups {unknown}; choose from {','.join(GROUPS)}")
    if "gpu" in groups and not torch.cuda.is_available():
        parser.error("--groups gpu needs a CUDA GPU, and torch sees none")
    if args.json is not None and (args.json.is_dir() or not os.access(args.json.parent.resolve(), os.W_OK)):
        parser.error(f"--json {args.json}: expected a file path in a writable folder")
    args.groups = groups
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banners between the rows
    warnings.filterwarnings("ignore", ".*(does not have many workers|barebones).*")
    try:
        x, y = load_data(args)
    except data.DatasetError as err:
        print(f"benchmark: error: {err}\nOr pass --synthetic to time on random data of the same shape.",
              file=sys.stderr)
        return 2
    sections = [run_section(args.section or "environment as set", args.groups, x, y, args)]
    cpu_groups = [g for g in args.groups if g != "gpu"]
    if args.section is None and cpu_groups:
        if any(os.environ.get(k) for k in OPENBLAS):
            env = {k: v for k, v in os.environ.items() if k not in OPENBLAS}
            sections.append(child_section("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset", cpu_groups, args, env))
        else:
            print("\nOPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set: the section above is also the unset run")
        if args.threads > 1:
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            sections.append(child_section(f"MULTI-THREAD ({args.threads} threads): not comparable with the "
                                          "1-thread figures on a shared machine", cpu_groups, args, env))
    if None in sections:
        print("benchmark: error: a subprocess section failed (its message is above)", file=sys.stderr)
        return 2
    if errors := fraction_errors(sections):
        print("benchmark: error: a fraction of the peak over 100% means a wrong FLOP count or peak, not a "
              "figure: " + "; ".join(errors), file=sys.stderr)
        return 2
    if args.json:
        result = {"command": sys.argv, "sections": sections}
        json.dumps(result, allow_nan=False)  # strict JSON: fails on a NaN or an infinity before anything is written
        save_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training images as float32 (N, 784) and int64 labels, or random data of the same shape."""
    if args.synthetic:
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((60_000, 784), dtype=np.float32), rng.integers(0, 10, 60_000)
    else:
        images, y = data.load("mnist", "train", args.data_dir)
        x = data.normalize(images, "mnist", np.float32)
    n = args.limit_steps * args.batch_size if args.limit_steps else len(x)
    return x[:n], y[:n]


if __name__ == "__main__":
    sys.exit(main())
