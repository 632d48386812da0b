"""Untrusted weights never run code: a pickle payload that would create a file, planted in every kind of weights file.

Every test sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, which makes torch.load unpickle anything unless the caller
passes weights_only=True itself; a control in each test shows the payload does run when a file is loaded unsafely.
"""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers import ROOT, one_error, run
from torch.utils.data import DataLoader, TensorDataset

from torch_impl.cli import main
from torch_impl.interop import WeightsFileError
from torch_impl.lit import LitClassifier, MNISTDataModule
from torch_impl.lit.checkpoint_io import SafeCheckpointIO
from torch_impl.lit.run import ClassifierCLI

UNSAFE = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}


class Payload:
    """Unpickling this calls open(marker, 'w'): the marker file appears only if the unpickler runs code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def lightning_checkpoint(marker: Path) -> dict:
    """A checkpoint a Trainer would accept, with the payload among its entries."""
    lit = LitClassifier({"sizes": [784, 8, 10]})
    state = {f"model.{key}": value for key, value in lit.model.state_dict().items()}
    return {"state_dict": state, "epoch": 0, "global_step": 0, "pytorch-lightning_version": L.__version__,
            "hyper_parameters": {"sizes": [784, 8, 10], "hook": Payload(marker)}}


def plant(path: Path, marker: Path, legacy: bool = False) -> Path:
    torch.save(lightning_checkpoint(marker), path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture
def unsafe_env(monkeypatch):
    for name, value in UNSAFE.items():
        monkeypatch.setenv(name, value)


def test_the_payload_runs_when_loaded_unsafely(tmp_path, unsafe_env):
    marker = tmp_path / "pwned"
    plant(tmp_path / "evil.ckpt", marker)
    torch.load(tmp_path / "evil.ckpt")  # the variable turns torch's default off: this is what must never happen
    assert marker.exists()


def test_ckpt_path_payload_never_runs_in_the_training_script(tiny_data_dir, tmp_path):
    marker, root = tmp_path / "pwned", tmp_path / "runs"
    evil = plant(tmp_path / "evil.ckpt", marker)
    proc = run("scripts/train_mnist.py", "--data.data_dir", tiny_data_dir, "--trainer.default_root_dir", root,
               "--trainer.max_epochs", "1", "--ckpt_path", evil, cwd=tmp_path, env=UNSAFE)
    assert not marker.exists(), "the checkpoint's pickle payload ran"
    assert proc.returncode == 2
    one_error(proc.stderr, str(evil), "cannot be read as a torch file")
    assert not list(root.glob("*/version_*")), "a refused run left a run directory"


def test_the_trainer_plugin_loads_weights_only(tmp_path, unsafe_env):
    evil = plant(tmp_path / "evil.ckpt", tmp_path / "pwned")
    lit = LitClassifier({"sizes": [784, 8, 10]})
    batches = DataLoader(TensorDataset(torch.randn(8, 784), torch.randint(0, 10, (8,))), batch_size=4)
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False, "accelerator": "cpu",
             "default_root_dir": tmp_path}
    with pytest.raises(WeightsFileError, match="evil.ckpt: cannot be read as a torch file"):
        L.Trainer(plugins=[SafeCheckpointIO()], **quiet).test(lit, batches, ckpt_path=evil, verbose=False)
    assert not (tmp_path / "pwned").exists()
    control = plant(tmp_path / "control.ckpt", tmp_path / "control")
    L.Trainer(**quiet).test(lit, batches, ckpt_path=control, verbose=False)  # Lightning's own loader runs it
    assert (tmp_path / "control").exists(), "Lightning's default loader no longer runs payloads: drop this control"


def test_the_training_cli_installs_the_plugin(tiny_data_dir, tmp_path):

    cli = ClassifierCLI(LitClassifier, MNISTDataModule, args=["--data.data_dir", str(tiny_data_dir),
                                                              "--trainer.default_root_dir", str(tmp_path / "runs")])
    assert isinstance(cli.trainer.strategy.checkpoint_io, SafeCheckpointIO)


@pytest.mark.parametrize("suffix, legacy", [(".ckpt", False), (".pt", False), (".pt", True), (".pth", True)])
def test_convert_never_runs_a_torch_payload(tmp_path, unsafe_env, capsys, suffix, legacy):
    marker = tmp_path / "pwned"
    evil = plant(tmp_path / f"evil{suffix}", marker, legacy)
    if suffix != ".ckpt":
        torch.save({"0.weight": torch.zeros(2, 2), "hook": Payload(marker)}, evil,
                   _use_new_zipfile_serialization=not legacy)
    assert main(["convert", str(evil), str(tmp_path / "out.npz")]) == 2
    assert not marker.exists()
    one_error(capsys.readouterr().err, str(evil), "cannot be read as a torch file")
    assert not (tmp_path / "out.npz").exists()


def test_convert_never_unpickles_an_object_npz(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    np.savez(evil, w=np.array([Payload(marker)], dtype=object))  # savez pickles object arrays
    assert main(["convert", str(evil), str(tmp_path / "out.pt")]) == 2
    assert not marker.exists()
    one_error(capsys.readouterr().err, str(evil))
    with np.load(evil, allow_pickle=True) as unsafe:  # the control: an unsafe load runs it
        unsafe["w"]
    assert marker.exists()



def test_every_load_in_the_product_and_docs_is_weights_only():
    """A guard against regressions: torch.load always with weights_only=True, no load_from_checkpoint (it loads with
    torch's default), no allow_pickle=True, in the code and in every page a user might copy from."""
    files = [*ROOT.glob("scratch/**/*.py"), *ROOT.glob("torch_impl/**/*.py"), *ROOT.glob("scripts/**/*.py"),
             *ROOT.glob("docs/*.md"), ROOT / "README.md"]
    found = []
    for path in files:
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in match.group(0):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        found += [f"{path.relative_to(ROOT)}: {bad}" for bad in ("load_from_checkpoint(", "allow_pickle=True")
                  if bad in text]
    assert not found, "unsafe loads:\n" + "\n".join(found)
