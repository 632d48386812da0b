"""Lightning: the torch twin wrapped for training (LitClassifier), the MNIST data module, and the scripts' run."""

from .datamodule import MNISTDataModule
from .module import LitClassifier

__all__ = ["LitClassifier", "MNISTDataModule"]
