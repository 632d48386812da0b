"""Recurrent layers in NumPy (RNN, LSTM, GRU) with torch's weights, gate order and outputs; backward through time.

A layer maps a sequence, (L, N, input_size) or (N, L, input_size) with batch_first, and an optional initial state
to `(output, h_n)`, or `(output, (h_n, c_n))` for the LSTM, as torch does. `backward(dout)` takes the gradient
of that output, shaped like it, `(doutput, dh_n)` or `(doutput, (dh_n, dc_n))` (None for a zero gradient), and
returns those of both inputs: `(dinput, dh_0)`, or for the LSTM `(dinput, (dh_0, dc_0))`. Each class writes one time loop forward and its reverse; the shared base class runs the
layers, the input projection x @ W_ih.T for all steps at once, and the weight gradients.
"""

from __future__ import annotations

import math

import numpy as np

from .activations import sigmoid
from .layers import _check_input
from .module import Module, Parameter


class _RNNBase(Module):
    gate_blocks = 1  # blocks of hidden_size rows in each weight: 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n)
    has_cell = False  # the LSTM carries (h, c); the others carry h alone

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dtype=np.float32, rng=None):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__} needs a positive integer {name}, got {value!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        rng = np.random.default_rng(rng)
        bound = 1 / math.sqrt(hidden_size)  # torch's init: every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden))
        rows = self.gate_blocks * hidden_size
        for k in range(num_layers):  # torch's names and order: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...
            shapes = {f"weight_ih_l{k}": (rows, input_size if k == 0 else hidden_size),
                      f"weight_hh_l{k}": (rows, hidden_size)}
            if bias:
                shapes |= {f"bias_ih_l{k}": (rows,), f"bias_hh_l{k}": (rows,)}
            for name, shape in shapes.items():
                setattr(self, name, Parameter(rng.uniform(-bound, bound, shape).astype(dtype)))
        self.caches = None

    def _layer(self, k: int) -> tuple[Parameter, Parameter, Parameter | None, Parameter | None]:
        return tuple(getattr(self, f"{name}_l{k}", None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _states(self, hx, batch: int, unbatched: bool, dtype) -> tuple[np.ndarray, ...]:
        """The initial state as a tuple of (num_layers, N, H) arrays: (h,) or (h, c); zeros where hx is None."""
        count = 2 if self.has_cell else 1
        shape = (self.num_layers, *(() if unbatched else (batch,)), self.hidden_size)
        if hx is None:
            return tuple(np.zeros((self.num_layers, batch, self.hidden_size), dtype) for _ in range(count))
        states = tuple(hx) if self.has_cell else (hx,)
        if len(states) != count:
            raise ValueError(f"{type(self).__name__} expects hx as (h_0, c_0), got {len(states)} arrays")
        for name, s in zip(("h_0", "c_0"), states):
            if not isinstance(s, np.ndarray) or s.dtype != dtype or s.shape != shape:
                got = f"{s.dtype} {s.shape}" if isinstance(s, np.ndarray) else type(s).__name__
                raise ValueError(f"{type(self).__name__} expects {name} as a {np.dtype(dtype)} array of shape {shape}, "
                                 f"got {got}")
        return tuple(s[:, None] if unbatched else s for s in states)

    def forward(self, input: np.ndarray, hx=None):
        dtype = self.weight_ih_l0.dtype
        _check_input(input, type(self).__name__, dtype, self.input_size)
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__} expects input of shape (L, N, {self.input_size}), "
                             f"(N, L, {self.input_size}) with batch_first, or (L, {self.input_size}); got {input.shape}")
        self.unbatched = input.ndim == 2
        x = input[:, None] if self.unbatched else input.swapaxes(0, 1) if self.batch_first else input  # (L, N, in)
        states = self._states(hx, x.shape[1], self.unbatched, dtype)
        self.caches, finals = [], []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer(k)
            xg = x @ w_ih.data.T  # (L, N, in) @ (in, G) -> (L, N, G): the input's part of every gate, all steps at once
            if b_ih is not None:
                xg += b_ih.data
            out, final, cache = self._steps(xg, tuple(s[k] for s in states), w_hh.data,
                                            None if b_hh is None else b_hh.data)
            self.caches.append((x, cache))
            finals.append(final)
            x = out  # (L, N, H): the next layer's input
        h_n = tuple(np.stack(s) for s in zip(*finals))  # each (num_layers, N, H)
        return self._layout(x), self._pack(h_n)

    def backward(self, dout: tuple):
        doutput, dh_n = dout
        caches = self._cached("caches")
        self.caches = None
        length, batch = caches[0][0].shape[:2]
        dtype = caches[0][0].dtype
        dx = np.zeros((length, batch, self.hidden_size), dtype) if doutput is None else self._layout(doutput)
        dfinal = self._unpack(dh_n, (self.num_layers, batch, self.hidden_size), dtype)
        dstart = []
        for k in reversed(range(self.num_layers)):
            x, cache = caches[k]
            w_ih, w_hh, b_ih, b_hh = self._layer(k)
            dxg, dgh, h_prev, dstate = self._steps_backward(dx, tuple(d[k] for d in dfinal), cache, w_hh.data)
            rows = dxg.shape[-1]
            w_ih.accumulate(dxg.reshape(-1, rows).T @ x.reshape(-1, x.shape[-1]))  # (G, L*N) @ (L*N, in) -> (G, in)
            w_hh.accumulate(dgh.reshape(-1, rows).T @ h_prev.reshape(-1, self.hidden_size))  # (G, H)
            if b_ih is not None:
                b_ih.accumulate(dxg.sum(axis=(0, 1)))
                b_hh.accumulate(dgh.sum(axis=(0, 1)))
            dx = dxg @ w_ih.data  # (L, N, G) @ (G, in) -> (L, N, in)
            dstart.insert(0, dstate)
        dh_0 = tuple(np.stack(d) for d in zip(*dstart))
        return self._layout(dx), self._pack(dh_0)

    def _layout(self, seq: np.ndarray) -> np.ndarray:
        """(L, N, F) -> the caller's layout, and back: (N, L, F) with batch_first, (L, F) for an unbatched input."""
        if self.unbatched:
            return seq[:, 0] if seq.ndim == 3 else seq[:, None]
        return seq.swapaxes(0, 1) if self.batch_first else seq

    def _pack(self, states: tuple[np.ndarray, ...]):
        """(h,) -> h and (h, c) -> (h, c), without the batch dim for an unbatched input."""
        states = tuple(s[:, 0] for s in states) if self.unbatched else states
        return states if self.has_cell else states[0]

    def _unpack(self, dstates, shape: tuple[int, ...], dtype) -> tuple[np.ndarray, ...]:
        """The gradient of h_n (and c_n) as a tuple of (num_layers, N, H) arrays, zeros where None."""
        dstates = tuple(dstates) if self.has_cell and dstates is not None else (dstates,) * (2 if self.has_cell else 1)
        return tuple(np.zeros(shape, dtype) if d is None else d[:, None] if self.unbatched else d for d in dstates)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}")


class RNN(_RNNBase):
    """h_t = tanh(x_t @ W_ih.T + b_ih + h_(t-1) @ W_hh.T + b_hh), or relu with nonlinearity='relu'."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dtype=np.float32, rng=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dtype, rng)

    def _steps(self, xg, state, w_hh, b_hh):
        hs = np.empty((len(xg) + 1, *state[0].shape), xg.dtype)  # (L + 1, N, H): h_0, then every step's h
        hs[0] = state[0]
        for t in range(len(xg)):
            a = xg[t] + hs[t] @ w_hh.T  # (N, H) @ (H, H) -> (N, H)
            if b_hh is not None:
                a += b_hh
            hs[t + 1] = np.tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0)
        return hs[1:], (hs[-1],), hs

    def _steps_backward(self, doutput, dstate, hs, w_hh):
        (dh,) = dstate
        da = np.empty_like(doutput)  # (L, N, H): gradient of each step's pre-activation
        for t in reversed(range(len(doutput))):
            dh = dh + doutput[t]  # this step's output gradient plus the one carried back from step t + 1
            h = hs[t + 1]
            da[t] = dh * (1 - h * h) if self.nonlinearity == "tanh" else dh * (h > 0)
            dh = da[t] @ w_hh  # (N, H) @ (H, H) -> (N, H): carried to step t - 1
        return da, da, hs[:-1], (dh,)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RNNBase):
    """Gates i, f, g, o (torch's order): c_t = f * c_(t-1) + i * g and h_t = o * tanh(c_t)."""

    gate_blocks, has_cell = 4, True

    def _steps(self, xg, state, w_hh, b_hh):
        length = len(xg)
        gates = np.empty_like(xg)  # (L, N, 4H): i, f, g, o after their nonlinearities
        hs = np.empty((length + 1, *state[0].shape), xg.dtype)  # (L + 1, N, H)
        cs, tanh_cs = np.empty_like(hs), np.empty_like(hs[1:])
        hs[0], cs[0] = state
        for t in range(length):
            a = xg[t] + hs[t] @ w_hh.T  # (N, H) @ (H, 4H) -> (N, 4H)
            if b_hh is not None:
                a += b_hh
            ai, af, ag, ao = np.split(a, 4, axis=-1)
            gates[t] = np.concatenate([sigmoid(ai), sigmoid(af), np.tanh(ag), sigmoid(ao)], axis=-1)
            i, f, g, o = np.split(gates[t], 4, axis=-1)
            cs[t + 1] = f * cs[t] + i * g
            tanh_cs[t] = np.tanh(cs[t + 1])
            hs[t + 1] = o * tanh_cs[t]
        return hs[1:], (hs[-1], cs[-1]), (gates, hs, cs, tanh_cs)

    def _steps_backward(self, doutput, dstate, cache, w_hh):
        gates, hs, cs, tanh_cs = cache
        dh, dc = dstate
        dgates = np.empty_like(gates)  # (L, N, 4H): gradient of each gate's pre-activation
        for t in reversed(range(len(doutput))):
            i, f, g, o = np.split(gates[t], 4, axis=-1)
            dh = dh + doutput[t]
            dc = dc + dh * o * (1 - tanh_cs[t] ** 2)  # through h = o * tanh(c)
            dgates[t] = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g * g),
                                        dh * tanh_cs[t] * o * (1 - o)], axis=-1)
            dc = dc * f  # carried to step t - 1
            dh = dgates[t] @ w_hh  # (N, 4H) @ (4H, H) -> (N, H)
        return dgates, dgates, hs[:-1], (dh, dc)


class GRU(_RNNBase):
    """Gates r, z, n (torch's order), n = tanh(x W_in.T + b_in + r * (h W_hn.T + b_hn)), h_t = (1 - z) n + z h."""

    gate_blocks = 3

    def _steps(self, xg, state, w_hh, b_hh):
        length = len(xg)
        gates = np.empty_like(xg)  # (L, N, 3H): r, z, n after their nonlinearities
        hs = np.empty((length + 1, *state[0].shape), xg.dtype)  # (L + 1, N, H)
        hn = np.empty_like(hs[1:])  # (L, N, H): h W_hn.T + b_hn, the part r scales
        hs[0] = state[0]
        for t in range(length):
            gh = hs[t] @ w_hh.T  # (N, H) @ (H, 3H) -> (N, 3H)
            if b_hh is not None:
                gh += b_hh
            xr, xz, xn = np.split(xg[t], 3, axis=-1)
            hr, hz, hn[t] = np.split(gh, 3, axis=-1)
            r, z = sigmoid(xr + hr), sigmoid(xz + hz)
            n = np.tanh(xn + r * hn[t])
            gates[t] = np.concatenate([r, z, n], axis=-1)
            hs[t + 1] = (1 - z) * n + z * hs[t]
        return hs[1:], (hs[-1],), (gates, hn, hs)

    def _steps_backward(self, doutput, dstate, cache, w_hh):
        gates, hn, hs = cache
        (dh,) = dstate
        dxg, dgh = np.empty_like(gates), np.empty_like(gates)  # gradients of the input's and the hidden's parts
        for t in reversed(range(len(doutput))):
            r, z, n = np.split(gates[t], 3, axis=-1)
            dh = dh + doutput[t]
            dn = dh * (1 - z) * (1 - n * n)  # through tanh
            dz = dh * (hs[t] - n) * z * (1 - z)
            dr = dn * hn[t] * r * (1 - r)
            dxg[t] = np.concatenate([dr, dz, dn], axis=-1)
            dgh[t] = np.concatenate([dr, dz, dn * r], axis=-1)
            dh = dh * z + dgh[t] @ w_hh  # (N, H) + (N, 3H) @ (3H, H): carried to step t - 1
        return dxg, dgh, hs[:-1], (dh,)
