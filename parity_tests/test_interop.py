"""Weights files: a real Lightning checkpoint runs in NumPy, npz -> pt -> npz is bit-exact, bad files are refused."""

import lightning as L
import numpy as np
import pytest
import torch
from helpers import close, one_error
from torch.utils.data import DataLoader, TensorDataset

import scratch
from scratch.io import save_npz
from scratch.models import ModelSpec
from torch_impl import mlp, to_torch
from torch_impl.cli import main
from torch_impl.interop import (
    WeightsFileError,
    convert,
    load_checkpoint,
    model_from_state_dict,
    read_weights,
    scratch_from_checkpoint,
    write_weights,
)
from torch_impl.lit import LitClassifier
from torch_impl.parity import STEP_RTOL

SIZES = [20, 16, 12, 3]


@pytest.fixture(scope="module")
def lightning_run(tmp_path_factory):
    """A LitClassifier trained for two steps by a real Trainer on random tensors, and its saved checkpoint."""
    torch.manual_seed(0)
    x, y = torch.randn(64, SIZES[0]), torch.randint(0, SIZES[-1], (64,))
    lit = LitClassifier(ModelSpec(sizes=SIZES, activation="tanh"), optimizer="adam", lr=0.05)
    trainer = L.Trainer(fast_dev_run=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path_factory.mktemp("lightning"))
    trainer.fit(lit, DataLoader(TensorDataset(x, y), batch_size=16))
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    trainer.save_checkpoint(path)
    return lit, path


def test_checkpoint_runs_in_numpy_with_the_same_predictions(lightning_run):
    lit, path = lightning_run
    model = scratch_from_checkpoint(path)
    assert [type(layer).__name__ for layer in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    for key, value in lit.model.state_dict().items():  # trained weights, not the initial ones
        np.testing.assert_array_equal(model.state_dict()[key], value.numpy())
    x = np.random.default_rng(1).standard_normal((200, SIZES[0])).astype(np.float32)
    lit.eval()
    with torch.no_grad():
        expected = lit(torch.from_numpy(x)).numpy()
    logits = model(x)
    close("logits", logits, expected, STEP_RTOL[np.dtype(np.float32)])  # one forward: the table's float32 bound
    np.testing.assert_array_equal(logits.argmax(axis=1), expected.argmax(axis=1))


def test_checkpoint_keys_lose_the_model_prefix(lightning_run):
    _, path = lightning_run
    state, hparams = load_checkpoint(path)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert hparams["spec"]["sizes"] == SIZES and hparams["spec"]["activation"] == "tanh"


def test_checkpoint_to_npz_to_pt_and_back_is_bit_exact(lightning_run, tmp_path):
    _, path = lightning_run
    state = read_weights(path)
    convert(path, tmp_path / "a.npz")
    convert(tmp_path / "a.npz", tmp_path / "a.pt")
    convert(tmp_path / "a.pt", tmp_path / "b.npz")
    back = read_weights(tmp_path / "b.npz")
    assert list(back) == list(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and back[key].tobytes() == value.tobytes(), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npz_to_pt_loads_into_the_torch_twin_bit_for_bit(tmp_path, dtype):
    model = scratch.mlp([7, 5, 3], "relu", dtype=dtype, seed=3)
    save_npz(tmp_path / "model.npz", model.state_dict())
    convert(tmp_path / "model.npz", tmp_path / "model.pt")
    twin = mlp([7, 5, 3], "relu", dtype=to_torch(model)[0].weight.dtype)
    twin.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    for key, value in model.state_dict().items():
        assert twin.state_dict()[key].numpy().tobytes() == value.tobytes()
    convert(tmp_path / "model.pt", tmp_path / "back.npz")
    again = model_from_state_dict(read_weights(tmp_path / "back.npz"))
    for key, value in model.state_dict().items():
        assert again.state_dict()[key].dtype == dtype and again.state_dict()[key].tobytes() == value.tobytes()


def test_convert_command(lightning_run, tmp_path, capsys):
    _, path = lightning_run
    assert main(["convert", str(path), str(tmp_path / "w.npz")]) == 0
    assert sorted(read_weights(tmp_path / "w.npz")) == sorted(load_checkpoint(path)[0])
    assert main(["convert", str(tmp_path / "w.npz"), str(tmp_path / "w.txt")]) == 2
    assert "w.txt: cannot write this kind of file" in capsys.readouterr().err


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(WeightsFileError, match="notes.ckpt: cannot be read as a torch file"):
        load_checkpoint(text)
    plain = tmp_path / "plain.ckpt"
    torch.save({"0.weight": torch.zeros(2, 2)}, plain)
    with pytest.raises(WeightsFileError, match=r"plain.ckpt: not a Lightning checkpoint .*'state_dict'"):
        load_checkpoint(plain)
    with pytest.raises(WeightsFileError, match="missing.ckpt: no such file"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_code_in_a_checkpoint_is_never_run(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"0.weight": torch.zeros(2), "hook": print}, path)  # a function: refused by weights_only
    with pytest.raises(WeightsFileError, match="evil.pt: cannot be read as a torch file"):
        read_weights(path)


def test_keys_outside_the_backbone_are_refused(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"model.0.weight": torch.zeros(2, 3), "head.weight": torch.zeros(2)}}, path)
    with pytest.raises(WeightsFileError, match=r"keys outside the backbone 'model.': \['head.weight'\]"):
        load_checkpoint(path)


def test_wrong_keys_and_shapes_are_named():
    state = scratch.mlp([4, 3, 2], seed=0).state_dict()
    with pytest.raises(ValueError, match=r"missing keys: \['2.bias'\]"):
        model_from_state_dict({k: v for k, v in state.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"unexpected keys: \['2.extra'\]"):
        model_from_state_dict({**state, "2.extra": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match=r"'2.weight' has shape \(2, 5\), the model expects \(2, 3\)"):
        model_from_state_dict({**state, "2.weight": np.zeros((2, 5), np.float32)})
    with pytest.raises(ValueError, match="no Linear weights"):
        model_from_state_dict({"fc.w": np.zeros(3)})
    with pytest.raises(ValueError, match=r"got \['float32', 'float64'\]"):
        model_from_state_dict({**state, "0.bias": state["0.bias"].astype(np.float64)})


def test_unreadable_npz_and_unknown_suffix_are_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(WeightsFileError, match="bad.npz: cannot be read as an .npz file"):
        read_weights(bad)
    with pytest.raises(WeightsFileError, match=r"weights.h5: unknown kind of weights file"):
        read_weights(tmp_path / "weights.h5")
    with pytest.raises(WeightsFileError, match="out.onnx: cannot write"):
        write_weights(tmp_path / "out.onnx", {})



def test_an_empty_npz_is_refused(tmp_path):
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(WeightsFileError, match="empty.npz: holds no arrays"):
        convert(tmp_path / "empty.npz", tmp_path / "empty.pt")
    assert not (tmp_path / "empty.pt").exists()


def test_an_npy_named_npz_is_named_for_what_it_is(tmp_path):
    np.save(tmp_path / "weights.npy", np.zeros(3))
    (tmp_path / "weights.npy").rename(tmp_path / "weights.npz")
    with pytest.raises(WeightsFileError, match="weights.npz: holds a single array, expected an .npz of named arrays"):
        read_weights(tmp_path / "weights.npz")


@pytest.mark.parametrize("hparams", [["sizes", 3], "784-10", 7])
def test_malformed_hyper_parameters_do_not_stop_a_conversion(lightning_run, tmp_path, hparams):
    _, path = lightning_run
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"] = hparams
    odd = tmp_path / "odd.ckpt"
    torch.save(checkpoint, odd)
    convert(odd, tmp_path / "w.npz")
    assert sorted(read_weights(tmp_path / "w.npz")) == sorted(load_checkpoint(path)[0])
    with pytest.raises(WeightsFileError, match="odd.ckpt: its hyper_parameters are .*, expected a mapping"):
        scratch_from_checkpoint(odd)


def test_unconvertible_tensors_and_arrays_name_the_file(tmp_path):
    torch.save({"0.weight": torch.zeros(2, 2, dtype=torch.bfloat16)}, tmp_path / "half.pt")
    with pytest.raises(WeightsFileError, match=r"half.pt: '0.weight' is torch.bfloat16, which NumPy cannot hold"):
        read_weights(tmp_path / "half.pt")
    np.savez(tmp_path / "text.npz", w=np.array(["a", "b"]))
    with pytest.raises(WeightsFileError, match=r"text.npz: 'w' holds <U1 values, expected numbers"):
        read_weights(tmp_path / "text.npz")


def test_a_bad_destination_is_refused_before_reading(tmp_path, capsys):
    (tmp_path / "w.npz").mkdir()
    missing = tmp_path / "missing.ckpt"  # never read: the destination is checked first
    for dst, reason in ((tmp_path / "w.npz", "w.npz: is a folder; expected a file name"),
                        ("/proc/self/w.npz", "cannot write in /proc"), (tmp_path / "w.txt", "w.txt: cannot write")):
        assert main(["convert", str(missing), str(dst)]) == 2
        one_error(capsys.readouterr().err, reason)
