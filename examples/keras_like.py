"""A Keras-like library whose optimizer runs inside backward_pass, so no gradient is ever left to read.

    python examples/keras_like.py

Each Dense layer's backward_pass hands its gradient straight to `W_opt.update(W, grad)`. The glue gives every
layer an optimizer that records the gradient and returns W unchanged, runs the library's own train_on_batch, and
checks what was recorded; the weights stay in the layers, where check_grads finds them. The library's loss_grad is
the gradient of the summed per-element loss (its reported loss is the mean), so the check differentiates the sum.
The planted bug is a sigmoid whose gradient is taken on its output instead of its input: the report names W[0],
the first gradient that flows through the sigmoid.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np

from torch_impl.parity import Report, check_grads


class SGD:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def update(self, w, grad_wrt_w):
        return w - self.learning_rate * grad_wrt_w


class Sigmoid:
    def __call__(self, x):
        return 1 / (1 + np.exp(-x))

    def gradient(self, x):
        return self(x) * (1 - self(x))


class SigmoidPlanted(Sigmoid):
    """The planted bug: the derivative taken on the output s, s(1 - s) with s = sigmoid(x) evaluated twice."""

    def gradient(self, x):
        s = self(x)
        return self(s) * (1 - self(s))


class Dense:
    def __init__(self, n_units, input_shape=None):
        self.n_units, self.input_shape, self.trainable = n_units, input_shape, True

    def initialize(self, optimizer, rng, dtype):
        limit = 1 / np.sqrt(self.input_shape[0])
        self.W = rng.uniform(-limit, limit, (self.input_shape[0], self.n_units)).astype(dtype)
        self.w0 = rng.uniform(-limit, limit, (1, self.n_units)).astype(dtype)
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)

    def output_shape(self):
        return (self.n_units,)

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X.dot(self.W) + self.w0

    def backward_pass(self, accum_grad):
        W = self.W
        if self.trainable:
            grad_w = self.layer_input.T.dot(accum_grad)
            grad_w0 = np.sum(accum_grad, axis=0, keepdims=True)
            self.W = self.W_opt.update(self.W, grad_w)
            self.w0 = self.w0_opt.update(self.w0, grad_w0)
        return accum_grad.dot(W.T)


class Activation:
    def __init__(self, function):
        self.activation_func, self.trainable = function, True

    def initialize(self, optimizer, rng, dtype):
        pass

    def output_shape(self):
        return self.input_shape

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return self.activation_func(X)

    def backward_pass(self, accum_grad):
        return accum_grad * self.activation_func.gradient(self.layer_input)


class SquareLoss:
    def loss(self, y, y_pred):
        return 0.5 * np.power(y - y_pred, 2)

    def gradient(self, y, y_pred):
        return -(y - y_pred)


class NeuralNetwork:
    def __init__(self, optimizer, loss, rng, dtype=np.float64):
        self.optimizer, self.loss_function, self.layers = optimizer, loss(), []
        self.rng, self.dtype = rng, dtype

    def add(self, layer):
        if self.layers:
            layer.input_shape = self.layers[-1].output_shape()
        layer.initialize(self.optimizer, self.rng, self.dtype)
        self.layers.append(layer)

    def train_on_batch(self, X, y):
        y_pred = self._forward_pass(X)
        loss = np.mean(self.loss_function.loss(y, y_pred))
        self._backward_pass(loss_grad=self.loss_function.gradient(y, y_pred))
        return loss

    def _forward_pass(self, X, training=True):
        layer_output = X
        for layer in self.layers:
            layer_output = layer.forward_pass(layer_output, training)
        return layer_output

    def _backward_pass(self, loss_grad):
        for layer in reversed(self.layers):
            loss_grad = layer.backward_pass(loss_grad)


# The check: the function body is the glue a user writes (counted by the tests, at most 5 statements; the line
# marked "lifted" is the training loop's own, unchanged, and does not count).


def check(model: NeuralNetwork, X, y) -> Report:
    seen, dense = [], [layer for layer in model.layers if isinstance(layer, Dense)]
    for layer in dense:
        layer.W_opt = layer.w0_opt = SimpleNamespace(update=lambda w, grad: seen.append(grad) or w)
    model.train_on_batch(X, y)  # lifted
    return check_grads(lambda: np.sum(model.loss_function.loss(y, model._forward_pass(X))),
                       {"W": [layer.W for layer in dense], "w0": [layer.w0 for layer in dense]},
                       {"W": seen[-2::-2], "w0": seen[::-2]})  # recorded backward: the last layer's W, w0 first


PLANTED = {"check": "model", "bug": "sigmoid gradient taken on its output", "expected": "W[0]"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    rng = np.random.default_rng(seed)
    model = NeuralNetwork(SGD(0.1), SquareLoss, rng, dtype)
    model.add(Dense(8, input_shape=(5,)))
    model.add(Activation(SigmoidPlanted() if planted else Sigmoid()))
    model.add(Dense(3))
    X, y = rng.standard_normal((10, 5)).astype(dtype), rng.standard_normal((10, 3)).astype(dtype)
    return {"model": check(model, X, y)}


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        print(f"\n{np.dtype(dtype)}:\n{run(dtype)['model']}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
