"""Embedding in NumPy: a lookup table indexed by integer ids, whose gradient adds up over repeated ids."""

from __future__ import annotations

import numpy as np

from .module import Module, Parameter


class Embedding(Module):
    """weight[ids], with weight shaped (num_embeddings, embedding_dim) and drawn from N(0, 1) as in torch.

    The row at `padding_idx` starts at zero and never gets a gradient, as in torch.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype=np.float32,
                 rng=None):
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must lie in [{-num_embeddings}, {num_embeddings - 1}] for "
                                 f"{num_embeddings} embeddings, got {padding_idx}")
            padding_idx %= num_embeddings  # torch stores a negative index counted from the end
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        weight = np.random.default_rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)
        self.ids = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        if not isinstance(input, np.ndarray) or not np.issubdtype(input.dtype, np.integer):
            got = input.dtype if isinstance(input, np.ndarray) else type(input).__name__
            raise TypeError(f"Embedding expects an integer NumPy array of ids, got {got}")
        if input.size and (input.min() < 0 or input.max() >= self.num_embeddings):
            raise IndexError(f"Embedding ids must lie in [0, {self.num_embeddings - 1}], "
                             f"got values from {input.min()} to {input.max()}")
        self.ids = input
        return self.weight.data[input]  # (*) -> (*, embedding_dim)

    def backward(self, dout: np.ndarray) -> None:
        """Accumulate the weight's gradient; there is no input gradient to return, as integer ids have none."""
        ids = self._cached("ids")
        self.ids = None
        dweight = np.zeros_like(self.weight.data)  # (num_embeddings, embedding_dim)
        np.add.at(dweight, ids.reshape(-1), dout.reshape(-1, self.embedding_dim))  # a repeated id adds each row
        if self.padding_idx is not None:
            dweight[self.padding_idx] = 0
        self.weight.accumulate(dweight)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
