"""What scripts/benchmark.py times: one Row per training loop or layer, each run a block at a time.

Every MNIST row trains with the same optimizer, batch size and data: NumPy and eager torch on batches gathered from
arrays in memory, the plain torch loop and Lightning on one DataLoader (or, on a GPU, on device-resident batches).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import scratch
from scratch import nn
from scratch import optim as soptim
from torch_impl import cnn as torch_cnn
from torch_impl import mlp as torch_mlp
from torch_impl.lit.datamodule import DeviceBatches
from torch_impl.parity.trajectory import OPTIMIZERS

SIZES = [784, 256, 128, 10]
CONFIG = Path(__file__).parent / "configs" / "mnist_cnn.yaml"  # the batch-norm + dropout CNN


def config_cnn(path: Path = CONFIG) -> scratch.CNNSpec:
    """The CNN a Lightning training config describes."""
    model = yaml.safe_load(path.read_text())["model"]
    model = model.get("spec", model)  # the options sit under model.spec where LitClassifier takes a ModelSpec
    return scratch.CNNSpec(tuple(model["channels"]), hidden=model["hidden"], batch_norm=model["batch_norm"],
                           dropout=model["dropout"])


@dataclass
class Row:
    """One thing timed, a block at a time: `block()` runs one block and returns its seconds."""

    name: str
    block: Callable[[], float]
    samples: int  # per block
    flops: float = 0.0  # per block, counted by train_flops (0: not counted)
    dtype: str = "float32"
    device: str = "cpu"
    seconds: list[float] = field(default_factory=list)  # one block per round


def train_flops(model: scratch.Sequential) -> int:
    """FLOPs of one training sample, counted as nanoGPT's estimate_mfu does: 2 per multiply-add of every Linear and
    Conv2d product, 3 products each (forward, weight gradient, input gradient) but 2 for the first, whose input
    gradient training never asks for. Biases, activations, pooling, norms and the optimizer are left out."""
    x, flops, products = np.zeros((1, SIZES[0]), next(model.parameters()).dtype), 0, 2
    for layer in model.eval().layers:
        x = layer(x)
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            flops, products = flops + 2 * products * layer.weight.data.size * (x.size // x.shape[1]), 3
    return flops


def sync(device: str) -> None:
    """Wait for the GPU's queued work, so that a clock reading means it is done."""
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: str = "cpu") -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def torch_optimizer(name: str, params) -> torch.optim.Optimizer:
    return OPTIMIZERS[name][1](params, **soptim.preset_settings(name))


def torch_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def numpy_row(name: str, make: Callable[[], scratch.Sequential], x, y, steps: int, args, flops: int) -> Row:
    """scratch training steps on batches gathered from arrays in memory, in a fresh random order each block."""
    model, loss_fn, rng, bs = make(), nn.CrossEntropyLoss(), np.random.default_rng(0), args.batch_size
    x, optimizer = x.astype(next(model.parameters()).dtype), soptim.make(args.optimizer, model.parameters())

    def steps_of(order):
        for idx in order[: steps * bs].reshape(steps, bs):
            loss_fn(model(x[idx]), y[idx])
            optimizer.zero_grad()
            model.backward(loss_fn.backward(), input_grad=False)  # the data needs no gradient
            optimizer.step()

    return Row(name, lambda: timed(lambda: steps_of(rng.permutation(len(x)))), steps * bs, steps * bs * flops,
               str(x.dtype))


def torch_row(name: str, make: Callable[[], torch.nn.Module], x, y, steps: int, args, flops: int,
              device: str = "cpu") -> Row:
    """The same steps in eager torch, on tensors already on the device."""
    torch.manual_seed(0)
    model = make().to(device)
    optimizer, bs = torch_optimizer(args.optimizer, model.parameters()), args.batch_size
    x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def steps_of(order):
        for idx in order[: steps * bs].view(steps, bs):
            torch_step(model, optimizer, x[idx], y[idx])

    return Row(name, lambda: timed(lambda: steps_of(torch.randperm(len(x), device=device)), device), steps * bs,
               steps * bs * flops, device=device)


def loop_row(name: str, loader, steps: int, args, device: str) -> Row:
    """A plain torch loop over a DataLoader: the data path Lightning gets."""
    model = torch_mlp(SIZES).to(device)
    optimizer = torch_optimizer(args.optimizer, model.parameters())

    def steps_of():
        for (x, y), _ in zip(loader, range(steps), strict=False):
            torch_step(model, optimizer, x.to(device, non_blocking=True), y.to(device, non_blocking=True))

    return Row(name, lambda: timed(steps_of, device), steps * args.batch_size, device=device)


class LitMLP(L.LightningModule):
    """The plain loop's model, loss and optimizer as a LightningModule, with no metrics and no logging."""

    def __init__(self, optimizer: str):
        super().__init__()
        self.model, self.optimizer_name = torch_mlp(SIZES), optimizer

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch  # (B, 784), (B,)
        return F.cross_entropy(self.model(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch_optimizer(self.optimizer_name, self.model.parameters())


class EpochTimer(L.Callback):
    """Wall time of every training epoch, the device synchronised at both ends."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        sync(pl_module.device.type)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        sync(pl_module.device.type)
        self.seconds.append(time.perf_counter() - self.start)


def lightning_row(name: str, loader, steps: int, args, accelerator: str) -> Row:
    """Trainer.fit for max_epochs=2 of `steps` batches, barebones (no logging, progress bar or checkpoints); epoch 2
    is timed, epoch 1 pays for the setup."""
    def block():
        timer = EpochTimer()
        trainer = L.Trainer(accelerator=accelerator, devices=1, max_epochs=2, limit_train_batches=steps,
                            barebones=True, callbacks=[timer])
        trainer.fit(LitMLP(args.optimizer), train_dataloaders=loader)
        return timer.seconds[1]

    return Row(name, block, steps * args.batch_size, device="cuda" if accelerator == "gpu" else "cpu")


def layer_row(name: str, fn: Callable[[], object], calls: int, flops: float = 0.0) -> Row:
    """`calls` calls of fn on a batch of 128 images."""
    return Row(name, lambda: timed(lambda: [fn() for _ in range(calls)]), 128 * calls, calls * flops)


def layer_rows(calls: int) -> list[Row]:
    """Conv 32->64 forward and 2x2 max pooling forward + backward at the CNN's shapes, batch 128; NumPy's input is
    channels-last as inside scratch.cnn, torch's NCHW as inside torch_impl.cnn."""
    rng = np.random.default_rng(0)
    conv, pool = nn.Conv2d(32, 64, 3, padding=1, rng=0), nn.MaxPool2d(2)
    x14, x28 = (rng.standard_normal((128, s, s, 32), dtype=np.float32).transpose(0, 3, 1, 2) for s in (14, 28))
    dout = rng.standard_normal((128, 14, 14, 32), dtype=np.float32).transpose(0, 3, 1, 2)
    t_conv = torch.nn.Conv2d(32, 64, 3, padding=1)
    t_x14, t_x28 = (torch.from_numpy(np.ascontiguousarray(x)) for x in (x14, x28))
    t_x28.requires_grad_(True)
    t_dout, flops = torch.from_numpy(np.ascontiguousarray(dout)), 2 * 128 * 14 * 14 * 64 * 32 * 9

    def t_pool():
        F.max_pool2d(t_x28, 2).backward(t_dout)

    return [layer_row("numpy_conv_forward", lambda: conv(x14), calls, flops),
            layer_row("torch_conv_forward", lambda: t_conv(t_x14), calls, flops),
            layer_row("numpy_maxpool", lambda: (pool(x28), pool.backward(dout)), calls),
            layer_row("torch_maxpool", t_pool, calls)]


def group_rows(group: str, x: np.ndarray, y: np.ndarray, args) -> list[Row]:
    """The rows of one group of scripts/benchmark.py, compared with each other."""
    bs = args.batch_size
    steps = args.limit_steps or len(x) // bs // 4  # a quarter epoch
    if group == "layers":
        return layer_rows(args.limit_steps or 20)
    if group == "mlp":
        flops = train_flops(scratch.mlp(SIZES))
        return [numpy_row("numpy_float64", lambda: scratch.mlp(SIZES, dtype=np.float64, seed=0), x, y, steps, args,
                          flops),
                numpy_row("numpy_float32", lambda: scratch.mlp(SIZES, seed=0), x, y, steps, args, flops),
                torch_row("torch_eager_float32", lambda: torch_mlp(SIZES), x, y, steps, args, flops)]
    if group in ("cnn", "cnn_bn"):
        spec, name, steps = scratch.CNNSpec() if group == "cnn" else config_cnn(), group, min(args.cnn_steps, steps)
        flops = train_flops(scratch.cnn(spec))
        return [numpy_row(f"numpy_{name}", lambda: scratch.cnn(spec, seed=0), x, y, steps, args, flops),
                torch_row(f"torch_{name}", lambda: torch_cnn(spec), x, y, steps, args, flops)]
    t_x, t_y, flops = torch.from_numpy(x), torch.from_numpy(y), train_flops(scratch.mlp(SIZES))
    if group == "lightning":
        loader = DataLoader(TensorDataset(t_x, t_y), batch_size=bs, shuffle=True)
        return [loop_row("torch_loop_cpu", loader, steps, args, "cpu"),
                lightning_row("lightning_cpu", loader, steps, args, "cpu")]
    pinned = DataLoader(TensorDataset(t_x, t_y), batch_size=bs, shuffle=True, pin_memory=True)
    resident = DeviceBatches(t_x.cuda(), t_y.cuda(), bs, DistributedSampler(t_y, num_replicas=1, rank=0))
    return [loop_row("torch_gpu", pinned, steps, args, "cuda"),
            lightning_row("lightning_gpu", pinned, steps, args, "gpu"),
            torch_row("torch_gpu_resident", lambda: torch_mlp(SIZES), x, y, steps, args, flops, "cuda"),
            lightning_row("lightning_gpu_resident", resident, steps, args, "gpu")]


