"""The torch.nn twin of the scratch network, the weight converters and the parity checker."""

from .convert import copy_into_torch, to_numpy, to_scratch, to_torch
from .models import cnn, mlp

__all__ = ["cnn", "copy_into_torch", "mlp", "to_numpy", "to_scratch", "to_torch"]
