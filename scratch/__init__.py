"""A neural network written from scratch in NumPy, with torch's names: forward and backward by hand."""

from . import data, nn, optim
from .models import ACTIVATIONS, CNNSpec, cnn, mlp
from .module import Module, Parameter

__all__ = ["ACTIVATIONS", "CNNSpec", "Module", "Parameter", "cnn", "data", "mlp", "nn", "optim"]
