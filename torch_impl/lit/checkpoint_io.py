"""Checkpoint loading for the Trainer that never runs code from the file: weights_only=True, whatever the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..interop import load_torch_file


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, but every load passes weights_only=True to torch.load itself.

    An explicit weights_only=True wins over TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD and over whatever default a torch or
    Lightning release has (torch before 2.6 defaulted to False; Lightning 2.4 passes nothing), so
    `trainer.fit(ckpt_path=...)` and `trainer.test(ckpt_path=...)` unpickle tensors and plain values only. Saving is
    Lightning's own.
    """

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_torch_file(Path(path))
