"""Model builders: `mlp(sizes)` makes the same layer stack as `torch_impl.mlp(sizes)`; `ModelSpec` names a model."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from .conv import Conv2d, MaxPool2d
from .layers import GELU, Dropout, Flatten, Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh, Unflatten
from .norm import BatchNorm2d

ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
    "identity": Identity,
}


def check_sizes(sizes: Sequence[int], activation: str) -> list[int]:
    """Validate an architecture: at least an input and an output size, all positive, a known activation."""
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in sizes):
        raise ValueError(f"layer widths must be whole numbers, got {list(sizes)}")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive layer widths (input, ..., output), got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    return sizes


def mlp(sizes: Sequence[int], activation: str = "relu", dtype=np.float32, seed=None) -> Sequential:
    """Linear layers of the given widths with `activation` between them and none after the last."""
    sizes = check_sizes(sizes, activation)
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(Linear(n_in, n_out, dtype=dtype, rng=rng))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(*layers)


@dataclass
class CNNSpec:
    """A small image classifier: conv blocks, then two Linear layers. Inputs arrive flat, (N, C*H*W)."""

    channels: tuple[int, ...] = (32, 64)  # one block each: conv (same padding) [-> batch norm] -> ReLU -> max pool 2
    kernel_size: int = 3  # odd, so 'same' padding is kernel_size // 2
    hidden: int = 128  # width of the hidden Linear layer
    num_classes: int = 10
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of one image
    batch_norm: bool = False  # BatchNorm2d after each convolution
    dropout: float = 0.0  # Dropout before each Linear layer when > 0

    def __post_init__(self):
        if not self.channels or min(self.channels) < 1 or self.kernel_size % 2 == 0 or self.hidden < 1:
            raise ValueError(f"a CNN needs positive channels, an odd kernel_size and hidden >= 1, got {self}")
        if min(self.image_shape[1:]) >> len(self.channels) < 1:
            raise ValueError(f"{len(self.channels)} pooling steps shrink a {self.image_shape} image to nothing")

    def flat_features(self) -> int:
        """Features entering the first Linear layer: each block halves height and width (rounding down)."""
        h, w = self.image_shape[1] >> len(self.channels), self.image_shape[2] >> len(self.channels)
        return self.channels[-1] * h * w


def cnn(spec: CNNSpec | None = None, dtype=np.float32, seed=None) -> Sequential:
    """The CNN described by `spec`, the same layer stack as `torch_impl.cnn(spec)`."""
    spec = spec or CNNSpec()
    rng = np.random.default_rng(seed)
    layers = [Unflatten(1, spec.image_shape)]  # (N, C*H*W) -> (N, C, H, W)
    c_in = spec.image_shape[0]
    for c_out in spec.channels:
        # a bias before batch norm is cancelled by its mean: leave it out, as is usual
        layers.append(Conv2d(c_in, c_out, spec.kernel_size, padding=spec.kernel_size // 2, bias=not spec.batch_norm,
                             dtype=dtype, rng=rng))
        if spec.batch_norm:
            layers.append(BatchNorm2d(c_out, dtype=dtype))
        layers += [ReLU(), MaxPool2d(2)]
        c_in = c_out
    layers.append(Flatten())
    for n_in, n_out, last in [(spec.flat_features(), spec.hidden, False), (spec.hidden, spec.num_classes, True)]:
        if spec.dropout:
            layers.append(Dropout(spec.dropout, rng=rng))
        layers.append(Linear(n_in, n_out, dtype=dtype, rng=rng))
        if not last:
            layers.append(ReLU())
    return Sequential(*layers)


MODELS = ("mlp", "cnn")


def _about(help: str, models: tuple[str, ...] = MODELS, choices: Sequence[str] | None = None) -> dict:
    """A ModelSpec field's metadata: its --help text, the models it shapes and, for text, its choices."""
    return {"help": help, "models": models, "choices": choices}


@dataclass
class ModelSpec:
    """Which model to build, and its shape: the one set of model options.

    Both builders (`scratch.models.build`, `torch_impl.models.build`), the scripts' options (`scratch.args`),
    `mlp-parity twin` and `LitClassifier` read these fields, so a new option is added here and nowhere else.
    """

    model: str = field(default="mlp", metadata=_about("model", choices=MODELS))
    sizes: list[int] = field(default_factory=lambda: [784, 128, 10], metadata=_about(
        "MLP layer widths, input first; the CNN uses the last as its number of classes", models=("mlp",)))
    activation: str = field(default="relu", metadata=_about("MLP hidden activation", ("mlp",), sorted(ACTIVATIONS)))
    channels: list[int] = field(default_factory=lambda: [32, 64],
                                metadata=_about("CNN: output channels of each conv block", ("cnn",)))
    hidden: int = field(default=128, metadata=_about("CNN: width of the hidden Linear layer", ("cnn",)))
    batch_norm: bool = field(default=False, metadata=_about("CNN: batch norm after each convolution", ("cnn",)))
    dropout: float = field(default=0.0, metadata=_about("CNN: dropout before each Linear layer", ("cnn",)))

    def __post_init__(self):
        for f in fields(ModelSpec):
            choices = f.metadata["choices"]
            if choices is not None and getattr(self, f.name) not in choices:
                raise ValueError(f"unknown {f.name} {getattr(self, f.name)!r}; choose one of {list(choices)}")
        self.sizes, self.channels = list(self.sizes), list(self.channels)  # plain lists, as YAML and JSON write them

    @classmethod
    def from_dict(cls, settings: Mapping) -> ModelSpec:
        """The spec of the ModelSpec fields among `settings` (parsed options, hyperparameters); others are ignored."""
        return cls(**{f.name: settings[f.name] for f in fields(ModelSpec) if f.name in settings})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(ModelSpec)}

    def shape(self) -> dict:
        """The model's name and the fields that shape it, e.g. for a run's summary."""
        return {f.name: getattr(self, f.name) for f in fields(ModelSpec) if self.model in f.metadata["models"]}

    def cnn_spec(self) -> CNNSpec:
        return CNNSpec(tuple(self.channels), hidden=self.hidden, num_classes=self.sizes[-1],
                       batch_norm=self.batch_norm, dropout=self.dropout)


def build(spec: ModelSpec, dtype=np.float32, seed=None) -> Sequential:
    """The model `spec` names: an `mlp` of spec.sizes, or a `cnn` of spec.cnn_spec()."""
    if spec.model == "mlp":
        return mlp(spec.sizes, spec.activation, dtype=dtype, seed=seed)
    return cnn(spec.cnn_spec(), dtype=dtype, seed=seed)
