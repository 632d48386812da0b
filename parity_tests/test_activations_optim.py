"""ELU, SiLU, Softplus, Hardtanh, RMSprop and Adagrad against torch, and torch's refusals of bad optimizer settings."""

import numpy as np
import pytest
import torch
from helpers import DTYPES, check, check_finite_differences, close, randn

import scratch
import scratch.nn as snn
from scratch import optim as soptim
from scratch.module import Parameter
from torch_impl import to_torch
from torch_impl.parity import TRAJECTORY_RTOL, diff
from torch_impl.parity.trajectory import optimizer_rows

ACTIVATIONS = [
    snn.ELU, lambda: snn.ELU(0.5), lambda: snn.ELU(2.0), snn.SiLU,
    snn.Softplus, lambda: snn.Softplus(beta=2.0), lambda: snn.Softplus(beta=0.5, threshold=1.0),
    snn.Hardtanh, lambda: snn.Hardtanh(-0.5, 2.0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation_matches_torch(make, dtype):
    x = 3 * randn(6, 7, dtype=dtype, zeros=True)  # both signs, planted zeros, past Hardtanh's ends and thresholds
    check(make(), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_at_the_kinks_follow_torch(dtype):
    """At x == 0 ELU's gradient is alpha; at Hardtanh's ends it is 0; past the threshold Softplus is x."""
    elu = snn.ELU(0.5)
    elu(np.zeros(3, dtype))
    close("ELU at 0", elu.backward(np.ones(3, dtype)), np.full(3, 0.5, dtype), rtol=0)
    hardtanh = snn.Hardtanh(-0.5, 2.0)
    x = np.array([-0.5, 2.0, 0.0, -1.0, 3.0], dtype)
    check(hardtanh, x)
    hardtanh(x)
    close("Hardtanh ends", hardtanh.backward(np.ones(5, dtype)), np.array([0, 0, 1, 0, 0], dtype), rtol=0)
    softplus = snn.Softplus(beta=2.0, threshold=4.0)
    x = np.array([2.5, 1000.0, -1000.0], dtype)  # beta * x beyond the threshold, and far out both ways
    with np.errstate(over="raise"):
        check(softplus, x)
        close("Softplus", softplus(x), np.array([2.5, 1000.0, 0.0], dtype), rtol=0)


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_numpy_backward_matches_finite_differences(make):
    x = randn(4, 5, seed=1)
    x[np.abs(x) < 1e-3] = 0.5  # central differences straddle a kink within 1e-6 of it
    check_finite_differences(make(), x)


def test_hardtanh_needs_max_above_min():
    with pytest.raises(ValueError, match="max_val > min_val, got min_val=1, max_val=1"):
        snn.Hardtanh(1, 1)


CONFIGS = [
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.05}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, settings", CONFIGS)
def test_100_training_steps_with_torchs_optimizer(name, settings, dtype):
    """A small tanh MLP and its twin, each trained by its own optimizer on the same batches: weights and state."""
    model = scratch.mlp([6, 5, 3], "tanh", dtype=dtype, seed=0)
    twin = to_torch(model)
    optimizer = getattr(soptim, name)(model.parameters(), **settings)
    t_optimizer = getattr(torch.optim, name)(twin.parameters(), **settings)
    loss_fn, t_loss_fn = snn.MSELoss(), torch.nn.MSELoss()
    rng, y = np.random.default_rng(1), randn(8, 3, dtype=dtype, seed=1)
    for _ in range(100):
        x = rng.standard_normal((8, 6)).astype(dtype)  # a fresh batch each step, the same on both sides
        loss_fn(model(x), y)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        t_optimizer.zero_grad()
        t_loss_fn(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        t_optimizer.step()
    rtol = TRAJECTORY_RTOL[np.dtype(dtype)]
    names = [name for name, _ in model.named_parameters()]
    t_state = twin.state_dict()
    rows = [diff(key, value, t_state[key], rtol) for key, value in model.state_dict().items()]
    rows += optimizer_rows(optimizer, t_optimizer, names, rtol)
    for index in range(len(names)):  # torch's state keys, no more and no fewer
        assert set(optimizer.state_dict()["state"][index]) == set(t_optimizer.state_dict()["state"][index])
    assert all(row.ok for row in rows), "\n".join(f"{r.name}: {r.max_rel:.1e}" for r in rows)


@pytest.mark.parametrize("settings", [{}, {"initial_accumulator_value": 0.3}])
def test_adagrad_holds_its_state_before_the_first_step_as_torch(settings):
    param, t_param = Parameter(np.ones((2, 3))), torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64))
    state, t_state = soptim.Adagrad([param], **settings).state_dict(), torch.optim.Adagrad([t_param], **settings)
    t_state = t_state.state_dict()
    assert set(state["state"][0]) == set(t_state["state"][0]) == {"step", "sum"}
    close("sum", state["state"][0]["sum"], t_state["state"][0]["sum"], rtol=0)
    assert state["state"][0]["step"] == float(t_state["state"][0]["step"]) == 0


@pytest.mark.parametrize("name, settings", [
    ("SGD", {"lr": -0.1}), ("Adam", {"lr": float("nan")}), ("SGD", {"lr": 0.1, "momentum": -0.9}),
    ("SGD", {"lr": 0.1, "weight_decay": -1e-4}), ("SGD", {"lr": 0.1, "nesterov": True}),
    ("Adam", {"eps": -1e-8}), ("Adam", {"betas": (1.0, 0.999)}), ("Adam", {"betas": (0.9, -0.1)}),
    ("AdamW", {"eps": -1.0}), ("AdamW", {"lr": -1.0}),
    ("RMSprop", {"eps": -1e-8}), ("RMSprop", {"momentum": -0.5}), ("RMSprop", {"alpha": -0.9}),
    ("Adagrad", {"lr_decay": -0.1}), ("Adagrad", {"initial_accumulator_value": -1.0}), ("Adagrad", {"eps": -1e-10}),
])
def test_bad_settings_are_refused_as_torch_refuses_them(name, settings):
    with pytest.raises(ValueError) as torch_error:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **settings)
    with pytest.raises(ValueError) as error:
        getattr(soptim, name)([Parameter(np.ones(2))], **settings)
    assert str(torch_error.value) in str(error.value)


def test_a_nan_rate_is_refused_by_every_scratch_optimizer():
    """Stricter than torch's SGD, which lets lr=nan through (its check is lr < 0) and trains to NaN."""
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        with pytest.raises(ValueError, match="Invalid learning rate: nan"):
            getattr(soptim, name)([Parameter(np.ones(2))], lr=float("nan"))
