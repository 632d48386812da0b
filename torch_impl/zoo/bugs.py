"""The bug zoo's wrong modules: scratch layers and losses, each holding one classic backprop mistake."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import scratch
import scratch.nn as snn


class ClippedReLU(snn.ReLU):
    """Clips the upstream gradient instead of masking it with x > 0."""

    def backward(self, dout):
        self.mask = None
        return np.maximum(dout, 0)


class ReLUPassingZero(snn.ReLU):
    """Lets the gradient through where the input is exactly 0 (torch's ReLU gradient there is 0)."""

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        dx = dout * (self._cached("x") >= 0)
        self.x = None
        return dx


class PreactivationSigmoid(snn.Sigmoid):
    """Takes the sigmoid derivative on the input z, z(1 - z), instead of on the output s, s(1 - s)."""

    def forward(self, x):
        out = super().forward(x)
        self.out = x  # the mistake: backward's out * (1 - out) now reads the pre-activation
        return out


class TransposedGradLinear(snn.Linear):
    """Accumulates x.T @ dout as the weight gradient, the transpose of dout.T @ x: in a square layer the shape fits."""

    def backward(self, dout):
        x = self._cached("x")  # (N, in)
        self.weight.accumulate(x.T @ dout)  # (in, N) @ (N, out) -> (in, out): wrong, unless in == out hides it
        self.bias.accumulate(dout.sum(axis=0))
        self.x = None
        return dout @ self.weight.data


class MeanBiasLinear(snn.Linear):
    """Averages the bias gradient over the batch instead of summing it."""

    def backward(self, dout):
        x = self._cached("x")  # (N, in)
        self.weight.accumulate(dout.T @ x)  # (out, N) @ (N, in) -> (out, in)
        self.bias.accumulate(dout.mean(axis=0))  # (out,): the loss sums over the batch, so must its gradient
        self.x = None
        return dout @ self.weight.data


class PostBiasTanh(scratch.Module):
    """y = tanh(x @ W.T) + b, differentiated with (1 - y**2): the derivative of tanh taken after the bias is added."""

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator):
        self.weight = scratch.Parameter(rng.standard_normal((out_features, in_features)) / np.sqrt(in_features))
        self.bias = scratch.Parameter(rng.standard_normal(out_features))
        self.x = None

    def forward(self, x):
        self.x = x
        self.out = np.tanh(x @ self.weight.data.T) + self.bias.data  # (N, in) @ (in, out) + (out,) -> (N, out)
        return self.out

    def backward(self, dout):
        x, y = self._cached("x"), self.out
        dz = dout * (1 - y**2)  # right only where b == 0: tanh's output is y - b
        self.weight.accumulate(dz.T @ x)  # (out, N) @ (N, in) -> (out, in)
        self.bias.accumulate(dout.sum(axis=0))
        self.x = self.out = None
        return dz @ self.weight.data


class TorchPostBiasTanh(nn.Module):
    """The torch twin of PostBiasTanh's forward, differentiated by autograd."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_features, in_features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=torch.float64))

    def forward(self, x):
        return torch.tanh(x @ self.weight.T) + self.bias


class SummedMSELoss(snn.MSELoss):
    """Mean squared error whose gradient is the sum's, 2 * (pred - target), missing the 1 / N of the mean."""

    def backward(self):
        residual = self._cached("diff")  # pred - target
        self.diff = None
        return 2 * residual


class NoOneHotCrossEntropyLoss(snn.CrossEntropyLoss):
    """Cross-entropy whose gradient is softmax(logits) / N, without subtracting the one-hot target."""

    def backward(self):
        probs = self._cached("probs")
        self.probs = self.q = None
        return probs / len(probs)


class DiagonalSoftmax(snn.Softmax):
    """Softmax backward as the elementwise s(1 - s), ignoring the Jacobian's off-diagonal terms -s_i s_j."""

    backward = snn.Sigmoid.backward  # the sigmoid's dout * s * (1 - s), on the softmax's cached output s


class SoftmaxMissingS(snn.Softmax):
    """Softmax backward as dout - sum(dout * s), forgetting the outer factor s."""

    def backward(self, dout):
        s = self._cached("out")
        self.out = None
        return dout - (dout * s).sum(axis=self.dim, keepdims=True)
