"""The torch twin of scratch.sequence.SequenceModel: a recurrent layer read at its last step by a Linear head."""

from __future__ import annotations

import torch
from torch import nn


class SequenceModel(nn.Module):
    def __init__(self, rnn: nn.RNNBase, head: nn.Linear):
        super().__init__()
        self.rnn, self.head = rnn, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(x)
        return self.head(output[:, -1] if self.rnn.batch_first else output[-1])
