"""Loss functions in NumPy: `loss_fn(pred, target)` returns the loss, `loss_fn.backward()` returns d(loss)/d(pred).

Settings are keyword-only: torch's losses take `weight` or `size_average` first, which these do not implement, so
`MSELoss("sum")` is refused rather than read differently from torch.
"""

from __future__ import annotations

import numpy as np

from .layers import log_softmax, sigmoid
from .module import Module

REDUCTIONS = ("mean", "sum")


def _check_pred(pred, loss: str) -> None:
    if not isinstance(pred, np.ndarray) or not np.issubdtype(pred.dtype, np.floating):
        got = pred.dtype if isinstance(pred, np.ndarray) else type(pred).__name__
        raise TypeError(f"{loss} expects a float NumPy array as prediction, got {got}")


def _check_class_targets(pred: np.ndarray, target, loss: str) -> np.ndarray:
    """Class-index targets: integers of shape (N,) in [0, C) for predictions of shape (N, C)."""
    _check_pred(pred, loss)
    if pred.ndim != 2:
        raise ValueError(f"{loss} expects predictions of shape (N, C), got {pred.shape}")
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"{loss} expects integer class indices as target, got dtype {target.dtype}")
    if target.shape != pred.shape[:1]:
        raise ValueError(f"{loss} expects target of shape {pred.shape[:1]} for predictions {pred.shape}, got {target.shape}")
    n_classes = pred.shape[1]
    if target.size and (target.min() < 0 or target.max() >= n_classes):
        raise ValueError(
            f"{loss} targets must lie in [0, {n_classes - 1}], got values from {target.min()} to {target.max()}"
        )
    return target


class _Loss(Module):
    def __init__(self, *, reduction: str = "mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, per_item: np.ndarray) -> np.ndarray:
        total = per_item.sum()
        if self.reduction == "sum":
            return total
        return total / per_item.size if per_item.size else per_item.dtype.type(np.nan)  # empty: nan, as torch

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, pred, target):
        _check_pred(pred, "MSELoss")
        if np.shape(target) != pred.shape:
            raise ValueError(f"MSELoss expects target of shape {pred.shape}, got {np.shape(target)}")
        self.diff = pred - np.asarray(target, dtype=pred.dtype)  # (*)
        return self._reduce(self.diff**2)

    def backward(self):
        diff = self._cached("diff")
        self.diff = None
        scale = 2 / max(diff.size, 1) if self.reduction == "mean" else 2  # an empty batch has an empty gradient
        return scale * diff


class CrossEntropyLoss(_Loss):
    """Softmax then negative log-likelihood, from raw logits (N, C) and class indices (N,)."""

    def __init__(self, *, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction=reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(self, logits, target):
        target = _check_class_targets(logits, target, "CrossEntropyLoss")
        n, c = logits.shape
        q = np.full_like(logits, self.label_smoothing / c)  # (N, C) smoothed one-hot target
        q[np.arange(n), target] += 1 - self.label_smoothing
        logp = log_softmax(logits, dim=1)  # (N, C)
        self.probs, self.q = np.exp(logp), q
        return self._reduce(-(q * logp).sum(axis=1))

    def backward(self):
        probs = self._cached("probs")
        dlogits = probs - self.q  # (N, C)
        self.probs = self.q = None
        return dlogits / len(dlogits) if self.reduction == "mean" else dlogits

    def extra_repr(self):
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""

    def forward(self, logp, target):
        target = _check_class_targets(logp, target, "NLLLoss")
        self.logp_shape, self.dtype, self.target = logp.shape, logp.dtype, target
        return self._reduce(-logp[np.arange(len(target)), target])

    def backward(self):
        target = self._cached("target")
        dlogp = np.zeros(self.logp_shape, dtype=self.dtype)  # (N, C)
        dlogp[np.arange(len(target)), target] = -1
        self.target = None
        return dlogp / len(target) if self.reduction == "mean" else dlogp


class BCEWithLogitsLoss(_Loss):
    """Sigmoid then binary cross-entropy, from raw logits and float targets of the same shape."""

    def forward(self, logits, target):
        _check_pred(logits, "BCEWithLogitsLoss")
        target = np.asarray(target)
        if target.shape != logits.shape:
            raise ValueError(f"BCEWithLogitsLoss expects target of shape {logits.shape}, got {target.shape}")
        if not np.issubdtype(target.dtype, np.floating):
            raise ValueError(f"BCEWithLogitsLoss expects float targets in [0, 1], got dtype {target.dtype}")
        self.logits, self.target = logits, target.astype(logits.dtype, copy=False)
        per_item = np.maximum(logits, 0) - logits * self.target + np.log1p(np.exp(-np.abs(logits)))
        return self._reduce(per_item)

    def backward(self):
        logits = self._cached("logits")
        dlogits = sigmoid(logits) - self.target
        self.logits = self.target = None
        return dlogits / dlogits.size if self.reduction == "mean" else dlogits
