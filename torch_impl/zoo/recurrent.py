"""The bug zoo's sequence cases: wrong recurrent, embedding and layer-norm backwards, each with its torch twin.

`compare` runs them like the other cases: a recurrent layer's outputs `(output, (h_n, c_n))` get the rows
`output[0]`, `output[1][0]`, `output[1][1]`, its inputs `(x, (h_0, c_0))` the gradient rows `input0.grad`,
`input1[0].grad`, `input1[1].grad`, and an embedding's integer ids are data.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

import scratch.nn as snn
from scratch.layernorm import normalize

from .cases import BUGS, DTYPE, Case, _randn, zoo_bug

_FIRST = len(BUGS)  # the bugs registered below are this module's: RECURRENT_BUGS


# -- the wrong modules ----------------------------------------------------------------------------------------------
class RNNDroppingCarriedGrad(snn.RNN):
    """Backward through time that never adds the gradient carried back from step t + 1 to step t's."""

    def _steps_backward(self, doutput, dstate, hs, w_hh):
        da = np.empty_like(doutput)
        for t in reversed(range(len(doutput))):
            dh = doutput[t]  # wrong: dh_carried, the gradient from step t + 1, should be added here
            da[t] = dh * (1 - hs[t + 1] ** 2)
            dh_carried = da[t] @ w_hh  # (N, H) @ (H, H) -> (N, H)
        return da, da, hs[:-1], (dh_carried,)


def _swap_g_and_o(array: np.ndarray, axis: int = -1) -> np.ndarray:
    """Blocks i, f, g, o along `axis` -> i, f, o, g (and back: swapping twice restores them)."""
    i, f, g, o = np.split(array, 4, axis=axis)
    return np.concatenate([i, f, o, g], axis=axis)


class IFOGOrderLSTM(snn.LSTM):
    """Reads the gate blocks of torch's weights as i, f, o, g (CS231n's order) instead of torch's i, f, g, o."""

    def _steps(self, xg, state, w_hh, b_hh):
        b_hh = None if b_hh is None else _swap_g_and_o(b_hh)
        return super()._steps(_swap_g_and_o(xg), state, _swap_g_and_o(w_hh, axis=0), b_hh)

    def _steps_backward(self, doutput, dstate, cache, w_hh):
        dxg, dgh, h_prev, dstart = super()._steps_backward(doutput, dstate, cache, _swap_g_and_o(w_hh, axis=0))
        return _swap_g_and_o(dxg), _swap_g_and_o(dgh), h_prev, dstart


class LSTMWithoutTanhPrime(snn.LSTM):
    """Sends h's gradient into the cell as dh * o, leaving out tanh's derivative 1 - tanh(c)**2."""

    def _steps_backward(self, doutput, dstate, cache, w_hh):
        gates, hs, cs, tanh_cs = cache
        dh, dc = dstate
        dgates = np.empty_like(gates)
        for t in reversed(range(len(doutput))):
            i, f, g, o = np.split(gates[t], 4, axis=-1)
            dh = dh + doutput[t]
            dc = dc + dh * o  # wrong: h = o * tanh(c), so this needs the factor (1 - tanh(c)**2)
            dgates[t] = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g * g),
                                        dh * tanh_cs[t] * o * (1 - o)], axis=-1)
            dc = dc * f
            dh = dgates[t] @ w_hh
        return dgates, dgates, hs[:-1], (dh, dc)


class AssigningEmbedding(snn.Embedding):
    """Writes each id's gradient row with `=`, so of an id seen twice only the last occurrence counts."""

    def backward(self, dout):
        ids = self._cached("ids")
        self.ids = None
        dweight = np.zeros_like(self.weight.data)
        dweight[ids.reshape(-1)] = dout.reshape(-1, self.embedding_dim)  # wrong: np.add.at adds repeated ids
        if self.padding_idx is not None:
            dweight[self.padding_idx] = 0
        self.weight.accumulate(dweight)


class PaddingEmbedding(snn.Embedding):
    """Forgets that the padding row gets no gradient."""

    def backward(self, dout):
        ids = self._cached("ids")
        self.ids = None
        dweight = np.zeros_like(self.weight.data)
        np.add.at(dweight, ids.reshape(-1), dout.reshape(-1, self.embedding_dim))  # wrong: padding_idx's row too
        self.weight.accumulate(dweight)


class LastAxisLayerNorm(snn.LayerNorm):
    """Normalises over the last dim alone, whatever normalized_shape says (right only for a 1-d shape)."""

    def forward(self, x):
        self.axes = (x.ndim - 1,)  # wrong: the last len(normalized_shape) dims; backward follows self.axes
        self.xhat, self.inv_std = normalize(x, self.axes, self.eps)
        return self.xhat * self.weight.data + self.bias.data


# -- the cases ----------------------------------------------------------------------------------------------------
def _sequence_case(wrong: type[snn.RNN | snn.LSTM], twin: type[nn.RNNBase], length: int, seed: int,
                   outputs_only: bool = False) -> Case:
    """A wrong recurrent layer (4 inputs, 5 hidden units) and its torch twin on a batch of 3 with random initial
    states; with outputs_only the loss reads every step's output but not h_n, as a language model's does."""
    rng = np.random.default_rng(seed)
    layer = wrong(4, 5, dtype=DTYPE, rng=seed)
    x, h_0, c_0 = _randn(rng, length, 3, 4), _randn(rng, 1, 3, 5), _randn(rng, 1, 3, 5)
    state = (h_0, c_0) if layer.has_cell else h_0
    options = {"dout": (_randn(rng, length, 3, 5), np.zeros((1, 3, 5), DTYPE))} if outputs_only else {"seed": seed}
    return Case(layer, twin(4, 5, dtype=torch.float64), (x, state), options)


@zoo_bug("bptt_drops_carried_grad", "backward through time that never adds the hidden-state gradient from step t + 1",
         "bias_hh_l0.grad", "sequence length > 1", "sequence length 1", length=1)
def _rnn_carried(seed, length=6):
    return _sequence_case(RNNDroppingCarriedGrad, nn.RNN, length, seed, outputs_only=True)


zoo_bug("lstm_gate_order", "LSTM gate blocks read as i, f, o, g (CS231n's order) instead of torch's i, f, g, o",
        "output[0]", "any input")(functools.partial(_sequence_case, IFOGOrderLSTM, nn.LSTM, 5))
zoo_bug("lstm_no_tanh_prime", "LSTM cell gradient dh * o, without tanh's derivative on the cell path",
        "bias_hh_l0.grad", "any input")(functools.partial(_sequence_case, LSTMWithoutTanhPrime, nn.LSTM, 5))


def _embedding_case(wrong: type[snn.Embedding], ids: np.ndarray, seed: int, padding_idx: int | None = None) -> Case:
    layer = wrong(7, 4, padding_idx=padding_idx, dtype=DTYPE, rng=seed)
    twin = nn.Embedding(7, 4, padding_idx=padding_idx, dtype=torch.float64)
    return Case(layer, twin, (ids,), {"seed": seed})


@zoo_bug("embedding_assigns", "embedding gradient written with = instead of added: a repeated id counts once",
         "weight.grad", "repeated ids", "distinct ids", repeated=False)
def _embedding_assigns(seed, repeated=True):
    ids = np.array([[1, 4, 1], [6, 4, 4]]) if repeated else np.array([[1, 4, 0], [6, 2, 5]])
    return _embedding_case(AssigningEmbedding, ids, seed)


@zoo_bug("embedding_padding_grad", "embedding padding row given a gradient (torch gives it none)",
         "weight.grad", "ids that include padding_idx", "ids without padding_idx", padded=False)
def _embedding_padding(seed, padded=True):
    ids = np.array([[1, 0, 3], [0, 6, 2]]) if padded else np.array([[1, 5, 3], [4, 6, 2]])
    return _embedding_case(PaddingEmbedding, ids, seed, padding_idx=0)


@zoo_bug("layer_norm_wrong_axis", "layer norm over the last dim alone instead of all of normalized_shape",
         "output", "normalized_shape of 2 dims", "normalized_shape of 1 dim", normalized_shape=(5,))
def _layer_norm_axis(seed, normalized_shape=(3, 5)):
    rng = np.random.default_rng(seed)
    layer = LastAxisLayerNorm(normalized_shape, dtype=DTYPE)
    layer.weight.data[:] = _randn(rng, *layer.normalized_shape)  # not the ones and zeros of the init
    layer.bias.data[:] = _randn(rng, *layer.normalized_shape)
    twin = nn.LayerNorm(layer.normalized_shape, dtype=torch.float64)
    return Case(layer, twin, (_randn(rng, 4, 3, 5),), {"seed": seed})


RECURRENT_BUGS = BUGS[_FIRST:]
