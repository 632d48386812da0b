"""The smallest sequence model: a recurrent layer read at its last step by a Linear head, for regression or classes."""

from __future__ import annotations

import numpy as np

from .layers import Linear
from .module import Module
from .recurrent import _RNNBase


class SequenceModel(Module):
    """head(rnn(x)[0] at the last step): (L, N, input_size), or (N, L, input_size) with batch_first, -> (N, out)."""

    def __init__(self, rnn: _RNNBase, head: Linear):
        if rnn.hidden_size != head.in_features:
            raise ValueError(f"the head takes {head.in_features} features but the rnn gives {rnn.hidden_size}")
        self.rnn, self.head = rnn, head
        self.output_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        output, _ = self.rnn(x)  # (L, N, H), or (N, L, H) with batch_first
        self.output_shape = output.shape
        last = output[:, -1] if self.rnn.batch_first else output[-1]  # (N, H)
        return self.head(last)  # (N, H) @ (H, out) -> (N, out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        doutput = np.zeros(self._cached("output_shape"), dout.dtype)  # only the last step reaches the head
        self.output_shape = None
        dlast = self.head.backward(dout)
        if self.rnn.batch_first:
            doutput[:, -1] = dlast
        else:
            doutput[-1] = dlast
        dx, _ = self.rnn.backward((doutput, None))
        return dx
