"""A dict of parameters, examples as columns, grads keyed "dW1": the deeplearning.ai course's style.

    python examples/deeplearning_ai.py

`parameters` is passed as `arrays` as it is, and the course's grads dict as `grads`: a "d" prefix names the same
array ("dW1" is W1's gradient). The course's cost returns np.squeeze(cost); an older version wrapped it in float(),
which leaves autograd nothing to differentiate: check_grads then says the graph was dropped and offers
reference="numerical", which this example runs too. The planted bug drops the 1/m of dW2: the report names W2 and
the factor m.
"""

from __future__ import annotations

import numpy as np

from torch_impl.parity import Report, check_grads


def initialize_parameters(n_x, n_h, n_y, rng, dtype=np.float64):
    def randn(*shape, scale):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    return {"W1": randn(n_h, n_x, scale=0.5), "b1": randn(n_h, 1, scale=0.1),
            "W2": randn(n_y, n_h, scale=0.5), "b2": randn(n_y, 1, scale=0.1)}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward_propagation(X, parameters):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    Z1 = np.dot(W1, X) + b1  # (n_h, n_x) @ (n_x, m) -> (n_h, m)
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2  # (n_y, m)
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2, Y):
    m = Y.shape[1]
    logprobs = np.multiply(np.log(A2), Y) + np.multiply(np.log(1 - A2), 1 - Y)
    cost = -np.sum(logprobs) / m
    return np.squeeze(cost)


def backward_propagation(parameters, cache, X, Y, planted=False):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = (1 if planted else 1 / m) * np.dot(dZ2, A1.T)  # planted: the 1/m forgotten
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (1 - np.power(A1, 2))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


# The checks: each function body is the glue a user writes (counted by the tests, at most 5 statements; the lines
# marked "lifted" are the notebook's own, unchanged, and do not count).


def check_backward(X, Y, parameters, planted=False) -> Report:
    _, cache = forward_propagation(X, parameters)  # lifted
    grads = backward_propagation(parameters, cache, X, Y, planted)  # lifted
    return check_grads(lambda **p: compute_cost(forward_propagation(X, p)[0], Y), parameters, grads)


def check_numerically(X, Y, parameters) -> Report:
    _, cache = forward_propagation(X, parameters)  # lifted
    grads = backward_propagation(parameters, cache, X, Y)  # lifted
    return check_grads(lambda **p: compute_cost(forward_propagation(X, p)[0], Y), parameters, grads,
                       reference="numerical")


PLANTED = {"check": "backward", "bug": "dW2 without its 1/m", "expected": "W2"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, 9)).astype(dtype)  # 9 examples as columns
    Y = (rng.random((1, 9)) > 0.5).astype(dtype)
    parameters = initialize_parameters(4, 5, 1, rng, dtype)
    return {"backward": check_backward(X, Y, parameters, planted), "numerical": check_numerically(X, Y, parameters)}


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        for name, report in run(dtype).items():
            print(f"\n{name} ({np.dtype(dtype)}):\n{report}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
