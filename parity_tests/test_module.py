"""Module plumbing: keys, state dicts, conversions, dtypes, accumulation, and clear errors on bad input."""

import json

import numpy as np
import pytest
import torch
from helpers import close, randn, run

import scratch
import scratch.nn as snn
import torch_impl


def test_state_dict_keys_and_shapes_match_the_torch_twin():
    model = scratch.mlp([7, 5, 4, 2], "gelu", seed=0)
    twin = torch_impl.mlp([7, 5, 4, 2], "gelu")
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert repr(model).count("Linear") == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conversions_are_bit_exact_both_ways(dtype):
    model = scratch.mlp([6, 5, 3], "tanh", dtype=dtype, seed=1)
    twin = torch_impl.to_torch(model)
    back = torch_impl.to_scratch(twin)
    for key, value in model.state_dict().items():
        assert twin.state_dict()[key].numpy().dtype == dtype
        close(key, twin.state_dict()[key], value, rtol=0)
        close(key, back.state_dict()[key], value, rtol=0)
    assert type(back[1]) is snn.Tanh


def test_torch_layer_without_twin_is_refused():
    with pytest.raises(TypeError, match="Conv1d has no twin"):
        torch_impl.to_scratch(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3)))
    with pytest.raises(TypeError, match="dilation"):
        torch_impl.to_scratch(torch.nn.Conv2d(1, 1, 3, dilation=2))


def test_init_follows_torch_default_distribution():
    layer = snn.Linear(400, 300, rng=0)
    bound = 1 / np.sqrt(400)
    for p in (layer.weight.data, layer.bias.data):
        assert p.min() >= -bound and p.max() <= bound and p.std() > 0.9 * bound / np.sqrt(3)
    assert layer.weight.shape == (300, 400) and layer.weight.dtype == np.float32


def test_same_seed_same_weights():
    a, b = scratch.mlp([4, 3, 2], seed=7), scratch.mlp([4, 3, 2], seed=7)
    for key in a.state_dict():
        close(key, a.state_dict()[key], b.state_dict()[key], rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    model = scratch.mlp([4, 3, 2], "sigmoid", dtype=dtype, seed=0)
    out = model(randn(5, 4, dtype=dtype))
    assert out.dtype == dtype
    assert model.backward(randn(5, 2, dtype=dtype)).dtype == dtype
    assert all(p.grad.dtype == dtype for p in model.parameters())


def test_backward_accumulates_until_zero_grad():
    model = scratch.mlp([4, 3, 2], seed=0, dtype=np.float64)
    x, dout = randn(5, 4), randn(5, 2)
    model(x)
    model.backward(dout)
    once = [p.grad.copy() for p in model.parameters()]
    model(x)
    model.backward(dout)
    for g, p in zip(once, model.parameters()):
        close("grad", p.grad, 2 * g, rtol=0)  # g + g is exactly 2 * g in floating point
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_reach_every_layer():
    model = scratch.mlp([4, 3, 2], seed=0)
    assert not any(m.training for m in model.eval().modules())
    assert all(m.training for m in model.train().modules())


def test_load_state_dict_refuses_bad_keys_and_loads_nothing():
    model = scratch.mlp([4, 3, 2], seed=0)
    before = model.state_dict()
    bad = dict(before)
    bad["0.weight"] = np.zeros((3, 5), np.float32)
    del bad["2.bias"]
    bad["9.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        model.load_state_dict(bad)
    for text in ("missing keys: ['2.bias']", "unexpected keys: ['9.weight']", "'0.weight' has shape (3, 5)"):
        assert text in str(err.value)
    for key, value in model.state_dict().items():
        close(key, value, before[key], rtol=0)


def test_load_state_dict_non_strict_reports_keys():
    model = scratch.mlp([4, 3, 2], seed=0)
    other = scratch.mlp([4, 3, 2], seed=1).state_dict()
    del other["2.bias"]
    result = model.load_state_dict(other, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == []
    close("0.weight", model.state_dict()["0.weight"], other["0.weight"], rtol=0)


def test_wrong_feature_size_names_both_shapes():
    with pytest.raises(ValueError, match=r"expects input of shape \(\*, 4\), got \(5, 3\)"):
        scratch.mlp([4, 2], seed=0)(np.zeros((5, 3), np.float32))


def test_wrong_input_dtype_is_refused():
    with pytest.raises(TypeError, match="float32 weights but got a float64 input"):
        scratch.mlp([4, 2], seed=0)(np.zeros((5, 4)))
    with pytest.raises(TypeError, match="float32 weights but got a uint8 input"):
        scratch.mlp([4, 2], seed=0)(np.zeros((5, 4), np.uint8))


@pytest.mark.parametrize("layer", [snn.Linear(3, 2), snn.ReLU(), snn.Tanh(), snn.Softmax(), snn.GELU()])
def test_backward_before_forward_is_a_runtime_error(layer):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2), np.float32))


def test_loss_backward_before_forward_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="before forward"):
        snn.CrossEntropyLoss().backward()


@pytest.mark.parametrize("loss", [snn.CrossEntropyLoss(), snn.NLLLoss()])
@pytest.mark.parametrize("target, message", [
    (np.array([0, 3]), r"must lie in \[0, 2\], got values from 0 to 3"),
    (np.array([0, -1]), r"must lie in \[0, 2\]"),
    (np.array([0.0, 1.0]), "integer class indices"),
    (np.array([0, 1, 2]), "target of shape"),
])
def test_bad_class_targets_are_refused(loss, target, message):
    with pytest.raises(ValueError, match=message):
        loss(np.zeros((2, 3)), target)


def test_bad_loss_settings_and_shapes_are_refused():
    with pytest.raises(ValueError, match="reduction"):
        snn.MSELoss(reduction="none")
    with pytest.raises(ValueError, match="target of shape"):
        snn.MSELoss()(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="float targets"):
        snn.BCEWithLogitsLoss()(np.zeros((2, 3)), np.zeros((2, 3), int))


def test_bad_architecture_is_refused():
    with pytest.raises(ValueError, match="at least two positive"):
        scratch.mlp([784])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        torch_impl.mlp([4, 2], "swish")


def imported(*stages: str, names: tuple[str, ...]) -> list[list[str]]:
    """In a fresh Python, import each stage's modules in turn; after each, which of `names` are in sys.modules."""
    steps = "".join(f"import {modules}; seen.append([n for n in {list(names)} if n in sys.modules]); "
                    for modules in stages)
    proc = run("-c", f"import json, sys; seen = []; {steps}print(json.dumps(seen))")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_scratch_never_imports_torch():
    (seen,) = imported("scratch, scratch.nn, scratch.optim, scratch.data, scratch.io, scratch.args", names=("torch",))
    assert seen == []


def test_the_checker_the_zoo_and_the_command_never_import_lightning():
    checker = "torch_impl, torch_impl.parity.check, torch_impl.parity.twin, torch_impl.zoo, torch_impl.cli"
    frameworks = ("lightning", "pytorch_lightning", "torchmetrics")
    checker_seen, lit_seen = imported(checker, "torch_impl.lit", names=frameworks)
    assert checker_seen == [] and "lightning" in lit_seen  # and the test can see such an import


@pytest.mark.parametrize("model", [
    scratch.mlp([6, 5, 3], dtype=np.float64, seed=0),
    scratch.cnn(scratch.CNNSpec(channels=(2,), hidden=4, image_shape=(1, 6, 6)), dtype=np.float64, seed=0),
])
def test_backward_can_skip_the_input_gradient_and_keeps_the_parameter_gradients(model):
    x = randn(3, 6 if isinstance(model[0], snn.Linear) else 36)
    dout = randn(3, model(x).shape[1], seed=1)
    model.backward(dout)
    full = [p.grad for p in model.parameters()]
    model.zero_grad()
    model(x)
    assert model.backward(dout, input_grad=False) is None
    for (name, p), g in zip(model.named_parameters(), full, strict=True):
        close(name, p.grad, g, rtol=0)


def test_a_linear_subclass_with_its_own_backward_still_trains_in_a_sequential():
    class PlainLinear(snn.Linear):
        def backward(self, dout):  # no input_grad: Sequential must not pass it
            return super().backward(dout)

    model = snn.Sequential(PlainLinear(4, 3, dtype=np.float64, rng=0), snn.Tanh())
    model(randn(2, 4))
    assert model.backward(randn(2, 3), input_grad=False).shape == (2, 4)
