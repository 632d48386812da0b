"""Optimizers: 100 steps on the same gradients, then whole training trajectories, against torch.optim."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, close

from scratch import optim as soptim
from scratch.module import Parameter
from torch_impl.parity import TRAJECTORY_RTOL, diff
from torch_impl.parity.check import CheckConfig, run_check
from torch_impl.parity.rounding import ROUNDING_FACTOR, WITHIN
from torch_impl.parity.trajectory import optimizer_rows

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, settings", CONFIGS)
def test_optimizer_on_the_same_gradients(name, settings, dtype):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((5, 3)).astype(dtype)
    param, t_param = Parameter(start.copy()), torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = getattr(soptim, name)([param], **settings)
    t_opt = getattr(torch.optim, name)([t_param], **settings)
    for _ in range(100):
        grad = rng.standard_normal((5, 3)).astype(dtype)
        param.grad, t_param.grad = grad, torch.from_numpy(grad.copy())
        opt.step()
        t_opt.step()
    rtol = TRAJECTORY_RTOL[np.dtype(dtype)]
    rows = [diff("param", param.data, t_param, rtol)] + optimizer_rows(opt, t_opt, ["param"], rtol)
    assert len(rows) == 1 + len(t_opt.state_dict()["state"].get(0, {}))
    assert all(row.ok for row in rows), rows


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_hundred_step_trajectory(optimizer, dtype):
    config = CheckConfig(sizes=[30, 24, 16, 5], activation="tanh", dtype=dtype, optimizer=optimizer, steps=100)
    step_report, traj_report = run_check(config)
    assert step_report.ok, f"\n{step_report}"
    assert traj_report.ok, f"\n{traj_report}"
    # a well-conditioned run: the table is the bound, and torch's own rounding is not even measured
    assert traj_report.rtol == TRAJECTORY_RTOL[np.dtype(dtype)] and traj_report.torch_drift is None


# Issue 12: one float32 Adam step at lr 1e-2 on the MSE loss moves some weights by rounding alone: a gradient near
# Adam's eps is divided by its own size, so its rounding error is multiplied by up to lr / eps. Torch float32 drifts
# from torch float64 by 4e-4 to 6e-4 here (seeds 0 to 2), as scratch drifts from torch, above the table's 1e-4; so
# 0.weight is judged against torch's own rounding of it (rounding.py).
ILL_CONDITIONED = {"loss": "mse", "dtype": "float32", "optimizer": "adam", "lr": 1e-2, "steps": 1}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_is_judged_against_torchs_own_drift_from_float64(seed):
    _, traj_report = run_check(CheckConfig(**ILL_CONDITIONED, seed=seed))
    worst = traj_report.worst
    assert worst.name == "0.weight" and worst.max_rel > traj_report.table_rtol  # the table alone would call it a FAIL
    assert worst.note.startswith(WITHIN) and worst.max_rel <= ROUNDING_FACTOR * worst.rounding
    assert traj_report.ok, f"\n{traj_report}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_learning_rate_ten_percent_off_still_fails(seed, monkeypatch):
    update = soptim.Adam.update

    def update_off(self, p, grad, state, group):  # the scratch side only: torch keeps the right rate
        update(self, p, grad, state, {**group, "lr": 1.1 * group["lr"]})

    monkeypatch.setattr(soptim.Adam, "update", update_off)
    _, traj_report = run_check(CheckConfig(**ILL_CONDITIONED, seed=seed))
    assert not traj_report.ok and traj_report.first_failure.name == "0.weight"


def test_zero_grad_and_none_gradients():
    param = Parameter(np.ones(3))
    opt = soptim.SGD([param], lr=1.0)
    opt.step()  # no gradient yet: nothing moves, as in torch
    close("param", param.data, np.ones(3), rtol=0)
    param.grad = np.ones(3)
    opt.zero_grad()
    assert param.grad is None


@pytest.mark.parametrize("make", [
    lambda p: soptim.SGD(p, lr=-1.0),
    lambda p: soptim.SGD(p, lr=0.1, nesterov=True),
    lambda p: soptim.Adam(p, betas=(0.9, 1.0)),
    lambda p: soptim.Adam([]),
])
def test_bad_settings_are_refused(make):
    with pytest.raises(ValueError):
        make([Parameter(np.ones(2))])
