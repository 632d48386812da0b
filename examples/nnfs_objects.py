"""Objects that set .dweights, .dbiases and .dinputs, with L2 added inside backward: Neural Networks from Scratch.

    python examples/nnfs_objects.py

The weights live in the layer objects; check_grads is given those very arrays, finds them in the objects the
forward reaches, and swaps torch arrays in for the autograd run (then puts everything back). The forward and
backward below are the training loop's own lines, lifted unchanged. The planted bug adds the L2 term's gradient
without its factor 2 (lambda * w for lambda * sum(w**2)); the report names w1, the regularized layer.
"""

from __future__ import annotations

import numpy as np

from torch_impl.parity import Report, check_grads


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons, rng, weight_regularizer_l2=0.0, bias_regularizer_l2=0.0, dtype=np.float64):
        self.weights = (0.5 * rng.standard_normal((n_inputs, n_neurons))).astype(dtype)
        self.biases = (0.1 * rng.standard_normal((1, n_neurons))).astype(dtype)
        self.weight_regularizer_l2 = weight_regularizer_l2
        self.bias_regularizer_l2 = bias_regularizer_l2

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        if self.weight_regularizer_l2 > 0:
            self.dweights += 2 * self.weight_regularizer_l2 * self.weights
        if self.bias_regularizer_l2 > 0:
            self.dbiases += 2 * self.bias_regularizer_l2 * self.biases
        self.dinputs = np.dot(dvalues, self.weights.T)


class Layer_Dense_Planted(Layer_Dense):
    """The planted bug: the L2 gradient without its factor 2."""

    def backward(self, dvalues):
        super().backward(dvalues)
        self.dweights -= self.weight_regularizer_l2 * self.weights


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax:
    def forward(self, inputs):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)


class Loss_CategoricalCrossentropy:
    def calculate(self, output, y):
        return np.mean(self.forward(output, y))

    def forward(self, y_pred, y_true):
        y_pred_clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
        return -np.log(y_pred_clipped[range(len(y_pred)), y_true])

    def regularization_loss(self, layer):
        loss = 0
        if layer.weight_regularizer_l2 > 0:
            loss += layer.weight_regularizer_l2 * np.sum(layer.weights * layer.weights)
        if layer.bias_regularizer_l2 > 0:
            loss += layer.bias_regularizer_l2 * np.sum(layer.biases * layer.biases)
        return loss


class Activation_Softmax_Loss_CategoricalCrossentropy:
    def __init__(self):
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs, y_true):
        self.activation.forward(inputs)
        self.output = self.activation.output
        return self.loss.calculate(self.output, y_true)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


# The check: the function body is the glue a user writes (counted by the tests, at most 5 statements; the lines
# marked "lifted" are the training loop's own, unchanged, and do not count).


def check(X, y, dense1, activation1, dense2, loss_activation) -> Report:
    def forward():
        dense1.forward(X)  # lifted
        activation1.forward(dense1.output)  # lifted
        dense2.forward(activation1.output)  # lifted
        data_loss = loss_activation.forward(dense2.output, y)  # lifted
        regularization_loss = (loss_activation.loss.regularization_loss(dense1)  # lifted
                               + loss_activation.loss.regularization_loss(dense2))
        return data_loss + regularization_loss

    def backward(dout):
        loss_activation.backward(loss_activation.output, y)  # lifted
        dense2.backward(loss_activation.dinputs)  # lifted
        activation1.backward(dense2.dinputs)  # lifted
        dense1.backward(activation1.dinputs)  # lifted
        return {"w1": dense1.dweights, "b1": dense1.dbiases, "w2": dense2.dweights, "b2": dense2.dbiases}

    return check_grads(forward, {"w1": dense1.weights, "b1": dense1.biases, "w2": dense2.weights, "b2": dense2.biases},
                       backward)


PLANTED = {"check": "network", "bug": "L2 gradient lambda * w, missing the factor 2", "expected": "w1"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((12, 2)).astype(dtype)
    y = rng.integers(0, 3, 12)
    dense1 = (Layer_Dense_Planted if planted else Layer_Dense)(2, 16, rng, 5e-2, 5e-2, dtype)
    dense2 = Layer_Dense(16, 3, rng, dtype=dtype)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
    return {"network": check(X, y, dense1, Activation_ReLU(), dense2, loss_activation)}


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        print(f"\n{np.dtype(dtype)}:\n{run(dtype)['network']}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
