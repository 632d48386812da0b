"""ReLU kinks that float32 rounding leaves undecided: there a torch run takes the side of the run it follows.

A ReLU whose input lies within the rounding bound of its dot product (Higham's gamma_n * sum|w x|) may fall on
either side of zero in float32, and both are correct results; the side changes a whole gradient term, and a trajectory
carries that on. So in a float32 trajectory check, torch takes NumPy's side at such inputs (and each float64 reference
its float32 run's side), and the report counts the kinks where it did. A side is never taken where the input is
farther from zero than rounding can move it: a wrong forward is still caught there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import scratch.nn as snn

U32 = 2.0**-24  # float32's unit roundoff
NO_SIDE = -1  # a leader's side tensor holds 0 (at or below zero), 1 (above) or NO_SIDE (it has no say)


def undecided(x: torch.Tensor, linear: nn.Linear, z: torch.Tensor) -> torch.Tensor:
    """Flat indices of z = x @ W.T + b where |z| <= gamma_{n+1} (|x| @ |W|.T + |b|): float32 rounding of that dot
    product can put it either side of 0. The sum is formed only where a cheap upper bound of it lets z be that close."""
    n = linear.in_features + 1
    gamma = n * U32 / (1 - n * U32)
    x, z = x.reshape(-1, linear.in_features).abs(), z.reshape(-1, linear.out_features).abs()
    weight = linear.weight.abs()
    bias = linear.bias.abs() if linear.bias is not None else torch.zeros_like(weight[:, 0])
    upper = x.amax(dim=1, keepdim=True) * weight.sum(dim=1) + bias  # (N, out) >= |x| @ |W|.T + |b|
    rows, cols = (z <= gamma * upper).nonzero().unbind(1)
    bound = (x[rows] * weight[cols]).sum(dim=1) + bias[cols]  # (candidates,)
    keep = z[rows, cols] <= gamma * bound
    return (rows * linear.out_features + cols)[keep]


def kink_layers(layers) -> list[int]:
    """Indices of the ReLUs (leaky too) fed by a Linear, in a torch or scratch Sequential."""
    relus, linears = (nn.ReLU, nn.LeakyReLU, snn.ReLU, snn.LeakyReLU), (nn.Linear, snn.Linear)
    return [i for i in range(1, len(layers)) if isinstance(layers[i], relus) and isinstance(layers[i - 1], linears)]


def scratch_sides(model: snn.Sequential, x: np.ndarray) -> dict[int, torch.Tensor]:
    """The side each ReLU input of a scratch forward on x falls on (0 or 1), flat, by layer index: a `follow`."""
    model(x)
    return {i: torch.from_numpy(model[i].mask.astype(np.int8).ravel()) for i in kink_layers(model)}


def leading(recorded: dict[int, tuple]) -> dict[int, torch.Tensor]:
    """A run's recorded sides as a `follow` for another run: NO_SIDE where its input was decided."""
    leads = {}
    for i, (size, where, sides) in recorded.items():
        leads[i] = torch.full((size,), NO_SIDE, dtype=torch.int8, device=sides.device)
        leads[i][where] = sides
    return leads


class Kinks:
    """Hooks on a torch Sequential's ReLUs: each forward records the sides of its undecided inputs (`recorded`, as a
    leader) and, where `follow` gives a leader's side for an undecided input, takes that side (`taken` counts them)."""

    def __init__(self, model: nn.Sequential):
        self.follow: dict[int, torch.Tensor] = {}
        self.recorded: dict[int, tuple] = {}  # layer -> (input size, flat indices of undecided inputs, their sides)
        self.taken = 0
        self._inputs = {}
        for i in kink_layers(model):
            model[i - 1].register_forward_pre_hook(self._keep_input(i))
            model[i].register_forward_hook(self._decide(i, model[i - 1]))

    def _keep_input(self, i: int):
        def keep(module, args):
            self._inputs[i] = args[0].detach()

        return keep

    def _decide(self, i: int, linear: nn.Linear):
        def decide(module, args, output):
            z = args[0]
            with torch.no_grad():
                where = undecided(self._inputs.pop(i), linear, z.detach())
                sides = (z.detach().flatten()[where] > 0).to(torch.int8)
                lead = self.follow.get(i)
                taken = torch.zeros_like(where, dtype=torch.bool)
                if lead is not None:
                    wanted = lead.to(z.device).flatten()[where]
                    taken = (wanted != NO_SIDE) & (wanted != sides)
                    sides = torch.where(taken, wanted, sides)
            self.recorded[i] = (z.numel(), where, sides)
            if not taken.any():
                return None
            self.taken += int(taken.sum())
            slope = getattr(module, "negative_slope", 0.0)
            positive = (z.detach() > 0).flatten()
            positive[where] = sides.bool()
            factor = torch.where(positive, 1.0, slope).to(z.dtype).view_as(z)
            return z * factor  # the gradient flows through the side taken

        return decide
