"""Gradients written inline in a training loop: the lecture's two-layer softmax net on a spiral.

    python examples/lecture_two_layer.py

`train` is the lecture's loop. To check one step, its body (up to the parameter update) is lifted unchanged into a
function returning the loss and the gradients; the glue is that function's def and return, and one check_grads
call. The forward also hands back `scores`, so its hand-written gradient dscores gets a row of its own, first in
backward order. The planted bug forgets `dscores /= num_examples`: the report names scores, N times too large.
"""

from __future__ import annotations

import numpy as np

from torch_impl.parity import Report, check_grads


def spiral(points_per_class: int, classes: int, rng, dtype=np.float64):
    """2-D points on `classes` interleaved spiral arms, with labels."""
    n = points_per_class * classes
    X, y = np.zeros((n, 2), dtype), np.zeros(n, dtype=np.int64)
    for j in range(classes):
        ix = range(points_per_class * j, points_per_class * (j + 1))
        r = np.linspace(0.0, 1, points_per_class)
        t = np.linspace(j * 4, (j + 1) * 4, points_per_class) + rng.standard_normal(points_per_class) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


def train(X, y, W, b, W2, b2, steps=1000, step_size=1.0, reg=1e-3, planted=False):
    """The lecture's loop: forward, loss, backward and update, every gradient written inline."""
    num_examples = X.shape[0]
    for _ in range(steps):
        hidden_layer = np.maximum(0, np.dot(X, W) + b)
        scores = np.dot(hidden_layer, W2) + b2
        exp_scores = np.exp(scores)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
        correct_logprobs = -np.log(probs[range(num_examples), y])
        data_loss = np.sum(correct_logprobs) / num_examples
        reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)
        loss = data_loss + reg_loss
        dscores = probs
        dscores[range(num_examples), y] -= 1
        if not planted:
            dscores /= num_examples
        dW2 = np.dot(hidden_layer.T, dscores)
        db2 = np.sum(dscores, axis=0, keepdims=True)
        dhidden = np.dot(dscores, W2.T)
        dhidden[hidden_layer <= 0] = 0
        dW = np.dot(X.T, dhidden)
        db = np.sum(dhidden, axis=0, keepdims=True)
        dW2 += reg * W2
        dW += reg * W
        W += -step_size * dW
        b += -step_size * db
        W2 += -step_size * dW2
        b2 += -step_size * db2
    return loss


# The check: the function body is the glue a user writes (counted by the tests, at most 5 statements; the lines
# marked "lifted" are the loop's own, unchanged, and do not count).


def check(X, y, W, b, W2, b2, reg=1e-3, planted=False) -> Report:
    def step(W, b, W2, b2):
        num_examples = X.shape[0]  # lifted
        hidden_layer = np.maximum(0, np.dot(X, W) + b)  # lifted
        scores = np.dot(hidden_layer, W2) + b2  # lifted
        exp_scores = np.exp(scores)  # lifted
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)  # lifted
        correct_logprobs = -np.log(probs[range(num_examples), y])  # lifted
        data_loss = np.sum(correct_logprobs) / num_examples  # lifted
        reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)  # lifted
        loss = data_loss + reg_loss  # lifted
        dscores = probs  # lifted
        dscores[range(num_examples), y] -= 1  # lifted
        if not planted:  # lifted
            dscores /= num_examples  # lifted
        dW2 = np.dot(hidden_layer.T, dscores)  # lifted
        db2 = np.sum(dscores, axis=0, keepdims=True)  # lifted
        dhidden = np.dot(dscores, W2.T)  # lifted
        dhidden[hidden_layer <= 0] = 0  # lifted
        dW = np.dot(X.T, dhidden)  # lifted
        db = np.sum(dhidden, axis=0, keepdims=True)  # lifted
        dW2 += reg * W2  # lifted
        dW += reg * W  # lifted
        return {"loss": loss, "scores": scores}, {"W": dW, "b": db, "W2": dW2, "b2": db2, "scores": dscores}

    return check_grads(lambda **p: step(**p)[0], {"W": W, "b": b, "W2": W2, "b2": b2}, step(W, b, W2, b2)[1])


PLANTED = {"check": "step", "bug": "dscores not divided by num_examples", "expected": "scores"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    rng = np.random.default_rng(seed)
    X, y = spiral(20, 3, rng, dtype)
    W, W2 = (0.5 * rng.standard_normal((2, 16))).astype(dtype), (0.5 * rng.standard_normal((16, 3))).astype(dtype)
    b, b2 = (0.1 * rng.standard_normal((1, 16))).astype(dtype), (0.1 * rng.standard_normal((1, 3))).astype(dtype)
    return {"step": check(X, y, W, b, W2, b2, planted=planted)}


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        print(f"\n{np.dtype(dtype)}:\n{run(dtype)['step']}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
