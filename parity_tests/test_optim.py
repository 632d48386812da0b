"""Optimizers: 100 steps on the same gradients, then whole training trajectories, against torch.optim."""

import numpy as np
import pytest
import torch
from helpers import DTYPES

from scratch import optim as soptim
from scratch.module import Parameter
from torch_impl.parity import TRAJECTORY_RTOL, diff
from torch_impl.parity.check import CheckConfig, run_check
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


def test_zero_grad_and_none_gradients():
    param = Parameter(np.ones(3))
    opt = soptim.SGD([param], lr=1.0)
    opt.step()  # no gradient yet: nothing moves, as in torch
    np.testing.assert_array_equal(param.data, np.ones(3))
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
