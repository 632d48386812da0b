"""Time one epoch of MNIST training in NumPy, plain torch and Lightning, against this machine's own matmul peak.

    python scripts/benchmark.py                        # every CPU row (+ the GPU rows where CUDA is present)
    python scripts/benchmark.py --repeat 3 --json runs/benchmark.json
    python scripts/benchmark.py --cnn                  # also the CNN, NumPy against torch eager
    python scripts/benchmark.py --synthetic --limit-steps 5 --peak-size 256    # a smoke run, for CI

Every row trains the same 784-256-128-10 ReLU MLP with the same optimizer, batch size and data for whole epochs and
keeps the best epoch of --epochs x --repeat. FLOPs are counted as 6 * params * samples: a Linear layer with an
(out, in) weight does 2 * in * out multiply-adds per sample forward (x @ W.T) and 4 * in * out backward (dW and dx),
and the biases and activations, a rounding error beside that, are counted as if they were weights. For the CNN
(--cnn: scratch.CNNSpec's default, conv 32 and conv 64 of 3x3, hidden 128) a convolution does 2 * k*k * in * out
multiply-adds per output pixel forward and twice that backward, so the same factor 3 applies to its forward count.
The peak is the best of a large square matmul (2 n^3 flops) in NumPy and torch, per dtype and device.
On a machine that other jobs share, run with OMP_NUM_THREADS=1 (OpenBLAS and torch both follow it): threads that
spin-wait for a busy core make every small matmul crawl, NumPy's and torch's alike.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import scratch
from scratch import data, nn
from scratch import optim as soptim
from scratch.io import save_json
from torch_impl import cnn as torch_cnn
from torch_impl import mlp
from torch_impl.lit.datamodule import DeviceBatches
from torch_impl.parity.trajectory import OPTIMIZERS

SIZES = [784, 256, 128, 10]
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Row:
    name: str
    seconds_per_epoch: float
    samples_per_s: float
    gflops: float
    peak_fraction: float  # of the best matmul measured for the row's dtype and device
    dtype: str
    device: str


def matmul_gflops(matmul: Callable[[], object], n: int, repeat: int = 5) -> float:
    """The best of `repeat` timed calls of an n x n x n matrix product, in GFLOP/s."""
    matmul()  # warm up: threads started, memory touched
    best = min(timed(matmul) for _ in range(repeat))
    return 2 * n**3 / best / 1e9


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_peak(dtype: str, n: int) -> float:
    """The better GFLOP/s of NumPy's and torch's n x n matmul in `dtype`."""
    a, b = (np.random.default_rng(seed).standard_normal((n, n)).astype(dtype) for seed in (0, 1))
    t_a, t_b = torch.from_numpy(a), torch.from_numpy(b)
    return max(matmul_gflops(lambda: a @ b, n), matmul_gflops(lambda: t_a @ t_b, n))


def measure_peaks(n: int, cuda: bool) -> dict[tuple[str, str], float]:
    """(device, dtype) -> the best GFLOP/s of an n x n matmul there."""
    peaks = {("cpu", dtype): cpu_peak(dtype, n) for dtype in ("float32", "float64")}
    for dtype in ("float32", "float64"):
        print(f"matmul peak, cpu {dtype}: NumPy and torch best {peaks['cpu', dtype]:.1f} GFLOP/s (n={n})")
    if cuda:
        g_a, g_b = (torch.randn(4 * n, 4 * n, device="cuda") for _ in range(2))
        peaks["cuda", "float32"] = matmul_gflops(lambda: (g_a @ g_b, torch.cuda.synchronize()), 4 * n)
        print(f"matmul peak, cuda float32: {peaks['cuda', 'float32']:.1f} GFLOP/s (n={4 * n})")
    return peaks


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training images as float32 (N, 784) and int64 labels, or random data of the same shape."""
    if args.synthetic:
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((60_000, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], 60_000)
    else:
        images, y = data.load("mnist", "train", args.data_dir)
        x = data.normalize(images, "mnist", np.float32)
    if args.limit_steps:
        x, y = x[: args.limit_steps * args.batch_size], y[: args.limit_steps * args.batch_size]
    return x, y


def best_epoch(run_epoch: Callable[[], object], epochs: int, repeat: int) -> float:
    return min(timed(run_epoch) for _ in range(epochs * repeat))


def forward_flops(spec: scratch.CNNSpec) -> int:
    """Multiply-adds x 2 of one image through the CNN's convolutions and Linear layers."""
    flops, (c, h, w) = 0, spec.image_shape
    for c_out in spec.channels:
        flops += 2 * spec.kernel_size**2 * c * c_out * h * w  # 'same' padding: h x w output pixels
        c, h, w = c_out, h // 2, w // 2  # 2x2 max pooling
    return flops + 2 * (spec.flat_features() * spec.hidden + spec.hidden * spec.num_classes)


def numpy_epochs(x: np.ndarray, y: np.ndarray, dtype: str, args: argparse.Namespace, cnn: bool = False) -> float:
    """scratch.mlp (or scratch.cnn) trained batch by batch over a seeded shuffle; the best epoch in seconds."""
    x = x.astype(dtype)
    dt = np.dtype(dtype).type
    model = scratch.cnn(dtype=dt, seed=0) if cnn else scratch.mlp(SIZES, dtype=dt, seed=0)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = soptim.make(args.optimizer, model.parameters())
    rng = np.random.default_rng(0)

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x), args.batch_size):
            idx = order[start : start + args.batch_size]
            loss_fn(model(x[idx]), y[idx])
            optimizer.zero_grad()
            model.backward(loss_fn.backward(), input_grad=False)  # the data needs no gradient
            optimizer.step()

    return best_epoch(epoch, args.epochs, args.repeat)


def torch_model(cnn: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch_cnn() if cnn else mlp(SIZES)


def torch_optimizer(params: Iterable[torch.nn.Parameter], args: argparse.Namespace) -> torch.optim.Optimizer:
    return OPTIMIZERS[args.optimizer][1](params, **soptim.preset_settings(args.optimizer))


def torch_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def torch_epochs(batches: Callable[[], Iterable], args: argparse.Namespace, device: str, cnn: bool = False) -> float:
    """A plain torch loop over `batches()` (a fresh iterable each epoch); the best epoch in seconds."""
    model = torch_model(cnn).to(device)
    optimizer = torch_optimizer(model.parameters(), args)

    def epoch():
        for x, y in batches():
            torch_step(model, optimizer, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
        if device == "cuda":
            torch.cuda.synchronize()

    return best_epoch(epoch, args.epochs, args.repeat)


def resident_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> Callable[[], Iterable]:
    """Batches gathered from tensors already in place, in a new random order each epoch."""
    def batches():
        order = torch.randperm(len(x), device=x.device)
        return ((x[idx], y[idx]) for idx in order.split(batch_size))
    return batches


class LitMLP(L.LightningModule):
    """The plain loop's model, loss and optimizer as a LightningModule, with no metrics and no logging."""

    def __init__(self, args: argparse.Namespace):
        super().__init__()
        self.args = args
        self.model = torch_model()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch  # (B, 784), (B,)
        return F.cross_entropy(self.model(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch_optimizer(self.model.parameters(), self.args)


class EpochTimer(L.Callback):
    """Wall time of every training epoch, the device synchronised at both ends."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._sync(pl_module)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self._sync(pl_module)
        self.seconds.append(time.perf_counter() - self.start)

    @staticmethod
    def _sync(pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()


def lightning_epochs(loader, args: argparse.Namespace, accelerator: str) -> float:
    """Trainer.fit for --epochs epochs, --repeat times, in barebones mode: no progress bar, logging or checkpoints."""
    timer = EpochTimer()
    for _ in range(args.repeat):
        trainer = L.Trainer(accelerator=accelerator, devices=1, max_epochs=args.epochs, barebones=True,
                            callbacks=[timer])
        trainer.fit(LitMLP(args), train_dataloaders=loader)
    return min(timer.seconds)


def loop_and_lightning(loader, args: argparse.Namespace, device: str, accelerator: str) -> tuple[float, float]:
    """The plain torch loop and Lightning on the same loader, taking turns round by round so that both meet the same
    state of a shared machine; the best epoch of each."""
    once = argparse.Namespace(**{**vars(args), "repeat": 1})
    rounds = [(torch_epochs(lambda: loader, once, device), lightning_epochs(loader, once, accelerator))
              for _ in range(args.repeat)]
    return min(loop for loop, _ in rounds), min(lit for _, lit in rounds)


def run_all(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, cuda: bool) -> dict[str, tuple]:
    """name -> (best seconds per epoch, dtype, device, model): every row's timing."""
    bs = args.batch_size
    t_x, t_y = torch.from_numpy(x), torch.from_numpy(y)
    loader = DataLoader(TensorDataset(t_x, t_y), batch_size=bs, shuffle=True)
    loop, lightning = loop_and_lightning(loader, args, "cpu", "cpu")
    timings = {
        "numpy_float64": (numpy_epochs(x, y, "float64", args), "float64", "cpu", "mlp"),
        "numpy_float32": (numpy_epochs(x, y, "float32", args), "float32", "cpu", "mlp"),
        "torch_eager_float32": (torch_epochs(resident_batches(t_x, t_y, bs), args, "cpu"), "float32", "cpu", "mlp"),
        "torch_loop_cpu": (loop, "float32", "cpu", "mlp"),
        "lightning_cpu": (lightning, "float32", "cpu", "mlp"),
    }
    if args.cnn:
        timings["numpy_cnn_float32"] = (numpy_epochs(x, y, "float32", args, cnn=True), "float32", "cpu", "cnn")
        timings["torch_cnn_eager_float32"] = (torch_epochs(resident_batches(t_x, t_y, bs), args, "cpu", cnn=True),
                                              "float32", "cpu", "cnn")
    if cuda:
        g_x, g_y = t_x.cuda(), t_y.cuda()
        pinned = DataLoader(TensorDataset(t_x, t_y), batch_size=bs, shuffle=True, pin_memory=True)
        sampler = DistributedSampler(g_y, num_replicas=1, rank=0, shuffle=True)
        loop, lightning = loop_and_lightning(pinned, args, "cuda", "gpu")
        timings["torch_gpu"] = (loop, "float32", "cuda", "mlp")
        timings["torch_gpu_resident"] = (torch_epochs(resident_batches(g_x, g_y, bs), args, "cuda"), "float32",
                                         "cuda", "mlp")
        timings["lightning_gpu"] = (lightning, "float32", "cuda", "mlp")
        timings["lightning_gpu_resident"] = (lightning_epochs(DeviceBatches(g_x, g_y, bs, sampler), args, "gpu"),
                                             "float32", "cuda", "mlp")
    return timings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time one epoch of MNIST training in NumPy, torch and Lightning")
    parser.add_argument("--batch-size", type=int, default=128, metavar="N", help="batch size (default: 128)")
    parser.add_argument("--epochs", type=int, default=1, metavar="N", help="epochs per measurement (default: 1)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="measurements per row; the best epoch of all counts (default: 1)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="optimizer (default: adam)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ (default: $MLP_PARITY_DATA, else data/)")
    parser.add_argument("--synthetic", action="store_true",
                        help="time on random data of MNIST's shape instead of the real files")
    parser.add_argument("--limit-steps", type=int, default=None, metavar="N",
                        help="an epoch of N batches only, for a smoke run (default: all 469)")
    parser.add_argument("--peak-size", type=int, default=2048, metavar="N",
                        help="size of the square matmul that measures the peak (default: 2048)")
    parser.add_argument("--no-cuda", action="store_true", help="skip the GPU rows even where CUDA is present")
    parser.add_argument("--cnn", action="store_true",
                        help="also time the CNN (scratch.cnn against torch eager on the CPU; several minutes)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if min(args.batch_size, args.epochs, args.repeat, args.peak_size, args.limit_steps or 1) < 1:
        parser.error("--batch-size, --epochs, --repeat, --peak-size and --limit-steps must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banners between the rows
    try:
        x, y = load_data(args)
    except data.DatasetError as err:
        print(f"benchmark: error: {err}\nOr pass --synthetic to time on random data of the same shape.",
              file=sys.stderr)
        return 2
    cuda = torch.cuda.is_available() and not args.no_cuda
    print(f"{len(x)} samples ({'synthetic' if args.synthetic else 'MNIST'}), {'-'.join(map(str, SIZES))} relu, "
          f"batch {args.batch_size}, {args.optimizer}; torch {torch.__version__} on {torch.get_num_threads()} "
          f"threads, NumPy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    peaks = measure_peaks(args.peak_size, cuda)
    flops = {"mlp": 6 * sum(p.numel() for p in torch_model().parameters()) * len(x),
             "cnn": 3 * forward_flops(scratch.CNNSpec()) * len(x)}  # per epoch, forward and backward
    rows = []
    for name, (seconds, dtype, device, model) in run_all(x, y, args, cuda).items():
        gflops = flops[model] / seconds / 1e9
        rows.append(Row(name, seconds, len(x) / seconds, gflops, gflops / peaks[device, dtype], dtype, device))

    print(f"\n{'row':<24} {'s/epoch':>9} {'samples/s':>11} {'GFLOP/s':>9} {'of peak':>8}")
    for row in rows:
        print(f"{row.name:<24} {row.seconds_per_epoch:>9.3f} {row.samples_per_s:>11,.0f} {row.gflops:>9.1f} "
              f"{row.peak_fraction:>8.1%}")
    seconds = {row.name: row.seconds_per_epoch for row in rows}
    print(f"\nNumPy float32 / torch eager float32: {seconds['numpy_float32'] / seconds['torch_eager_float32']:.2f}x "
          f"the time; Lightning / plain torch loop (CPU): {seconds['lightning_cpu'] / seconds['torch_loop_cpu']:.2f}x")
    if args.cnn:
        print(f"CNN, NumPy / torch eager: {seconds['numpy_cnn_float32'] / seconds['torch_cnn_eager_float32']:.2f}x")
    if args.json:
        save_json(args.json, [asdict(row) for row in rows])
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
