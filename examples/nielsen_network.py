"""Column vectors and lists of weights, one example at a time: the style of Nielsen's network.py.

    python examples/nielsen_network.py

`arrays` takes the network's own lists (rows weights[0], weights[1], ...); check_grads finds each array inside the
network object and swaps it for the autograd run. The planted bug is the hidden-layer loop's off-by-one,
activations[-l] for activations[-l-1]: the report names weights[0] with both shapes, as a failing row.
"""

from __future__ import annotations

import itertools

import numpy as np

from torch_impl.parity import Report, check_grads


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes, rng, dtype=np.float64):
        self.num_layers = len(sizes)
        self.biases = [rng.standard_normal((y, 1)).astype(dtype) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)).astype(dtype) for x, y in itertools.pairwise(sizes)]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights, strict=True):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, x, y, planted: bool = False):
        """(nabla_b, nabla_w) of the quadratic cost 0.5 * ||a - y||^2 for one example x, a column vector."""
        nabla_b = [np.zeros(b.shape, b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, w.dtype) for w in self.weights]
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sigmoid_prime(z)
            nabla_b[-layer] = delta
            below = activations[-layer] if planted else activations[-layer - 1]  # the planted off-by-one
            nabla_w[-layer] = np.dot(delta, below.transpose())
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations, y):
        return output_activations - y


# The check: the function body is the glue a user writes (counted by the tests, at most 5 statements).


def check(net: Network, x, y, planted: bool = False) -> Report:
    nabla_b, nabla_w = net.backprop(x, y, planted)
    return check_grads(lambda: 0.5 * np.sum((net.feedforward(x) - y) ** 2),
                       {"weights": net.weights, "biases": net.biases}, {"weights": nabla_w, "biases": nabla_b})


PLANTED = {"check": "backprop", "bug": "hidden-layer loop uses activations[-l] for activations[-l-1]",
           "expected": "weights[0]"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    rng = np.random.default_rng(seed)
    net = Network([7, 5, 4, 3], rng, dtype)
    x = rng.standard_normal((7, 1)).astype(dtype)
    y = np.eye(3, dtype=dtype)[:, [int(rng.integers(3))]]  # a one-hot column
    return {"backprop": check(net, x, y, planted)}


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        print(f"\n{np.dtype(dtype)}:\n{run(dtype)['backprop']}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
