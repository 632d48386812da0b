"""What check_grads costs: its whole call against one torch forward + backward of the same function.

    OMP_NUM_THREADS=1 python scripts/bench_check_grads.py              # both sizes, float64 and float32
    OMP_NUM_THREADS=1 python scripts/bench_check_grads.py --rounds 5   # a quick look

The function is a two-layer ReLU net with a softmax loss, written once in NumPy (with its hand-written backward reading
what the forward kept, as a user's code does) and once in torch. Each round times one check_grads call (the NumPy forward, the hand-written backward,
the autograd reference and the comparison) and then one torch forward + backward, so both meet the same machine
state; the median ratio over the rounds is reported with its spread (min - max). The numerical reference is timed
once per size: 2n + 2 forward calls for n differentiated elements. Runs at 1 thread, once as the environment is set
and once in a subprocess without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from torch_impl.parity import check_grads

SIZES = {"small": (16, 20, 32, 5), "mnist": (256, 784, 256, 10)}  # (batch, inputs, hidden, classes)
OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


CACHE = {}  # what the forward keeps for the backward, as a user's layer objects or caches do


def loss(X, y, W1, b1, W2, b2):
    h = np.maximum(0, X @ W1 + b1)  # (N, D) @ (D, H) -> (N, H)
    scores = h @ W2 + b2  # (N, C)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    CACHE.update(X=X, y=y, W2=W2, h=h, log_probs=log_probs)
    return -log_probs[np.arange(len(y)), y].mean()


def grads(dout: float = 1.0) -> dict:
    """The hand-written backward of `loss`, from what its last forward kept."""
    X, y, W2, h, log_probs = (CACHE[k] for k in ("X", "y", "W2", "h", "log_probs"))
    dscores = np.exp(log_probs)  # (N, C) softmax
    dscores[np.arange(len(y)), y] -= 1
    dscores *= dout / len(y)
    dh = (dscores @ W2.T) * (h > 0)  # (N, C) @ (C, H) -> (N, H)
    return {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ dscores, "b2": dscores.sum(axis=0)}


def torch_step(X, y, W1, b1, W2, b2) -> None:
    """One torch forward + backward of the same function, autograd on the parameters."""
    h = torch.relu(X @ W1 + b1)
    torch.nn.functional.cross_entropy(h @ W2 + b2, y).backward()
    for p in (W1, b1, W2, b2):
        p.grad = None


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(size: str, dtype, rounds: int) -> dict:
    n, d, hidden, classes = SIZES[size]
    rng = np.random.default_rng(0)
    arrays = {"X": rng.standard_normal((n, d)), "y": rng.integers(0, classes, n),
              "W1": rng.standard_normal((d, hidden)) / np.sqrt(d), "b1": rng.standard_normal(hidden) * 0.1,
              "W2": rng.standard_normal((hidden, classes)) / np.sqrt(hidden), "b2": rng.standard_normal(classes) * 0.1}
    arrays = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    tensors = {k: torch.from_numpy(v.copy()).requires_grad_(k not in ("X", "y")) for k, v in arrays.items()}

    def check():
        report = check_grads(loss, arrays, grads)
        assert report.ok, report

    check(), torch_step(**tensors)  # warm up
    ratios = []
    for _ in range(rounds):
        ratios.append(timed(check) / timed(lambda: torch_step(**tensors)))
    small = {k: v[:4] if k in ("X", "y") else v for k, v in arrays.items()} if size == "small" else None
    result = {"size": size, "dtype": np.dtype(dtype).name, "median": float(np.median(ratios)),
              "min": float(np.min(ratios)), "max": float(np.max(ratios)), "rounds": rounds}
    if small is not None:
        elements = sum(v.size for k, v in small.items() if k not in ("X", "y"))
        numerical = timed(lambda: check_grads(loss, small, grads, reference="numerical"))
        forward = min(timed(lambda: loss(**small)) for _ in range(20))
        result["numerical"] = {"elements": elements, "seconds": numerical, "forward_calls": 2 * elements + 2,
                               "x_one_forward": numerical / forward}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds per row (default: 21)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = [measure(size, dtype, args.rounds) for size in SIZES for dtype in (np.float64, np.float32)]
    if args.child:
        print(json.dumps(rows))
        return 0
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS}
    env["OMP_NUM_THREADS"] = "1"
    child = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(args.rounds)], env=env,
                           capture_output=True, text=True, check=True)
    setting = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in OPENBLAS)
    for label, results in ((f"as set ({setting})", rows), ("without OPENBLAS_*", json.loads(child.stdout))):
        print(f"\n{label}: check_grads (autograd reference) / one torch forward + backward")
        for r in results:
            print(f"  {r['size']:<6} {r['dtype']:<8} median {r['median']:.2f}x  (min {r['min']:.2f}x, "
                  f"max {r['max']:.2f}x, {r['rounds']} rounds)")
            if "numerical" in r:
                m = r["numerical"]
                print(f"    numerical reference: {m['elements']} elements, {m['forward_calls']} forward calls, "
                      f"{m['seconds'] * 1e3:.0f} ms = {m['x_one_forward']:.0f} x one NumPy forward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
