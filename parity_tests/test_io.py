"""scratch.io: atomic writes with the user's umask, no temp file left for ever, output paths and folder locks checked
up front, strict JSON."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import pytest
from helpers import ROOT

from scratch.io import OutputPathError, atomic_write, check_folder, check_output, json_text, lock_folder, save_json


@pytest.fixture
def umask():
    """Set a umask for one test, restoring the old one after."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_allows(tmp_path, umask, mask, mode):
    umask(mask)
    path = atomic_write(tmp_path / "model.npz", lambda f: f.write(b"weights"))
    assert os.stat(path).st_mode & 0o777 == mode


def temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_sigkill_mid_write_keeps_the_old_file_and_the_next_write_sweeps_its_temp(tmp_path):
    path = atomic_write(tmp_path / "model.npz", lambda f: f.write(b"good"))
    writer = ("import sys, time; from scratch.io import atomic_write\n"
              "def write(f):\n    f.write(b'half'); f.flush(); print('writing', flush=True); time.sleep(60)\n"
              "atomic_write(sys.argv[1], write)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_bytes() == b"good"
    assert len(temps(tmp_path)) == 1, "the killed writer should have left its temp file"
    atomic_write(path, lambda f: f.write(b"better"))
    assert path.read_bytes() == b"better" and temps(tmp_path) == []


def test_a_live_writers_temp_file_is_left_alone(tmp_path):
    live = tmp_path / f".model.npz.{os.getpid()}.0a1b2c3d.tmp"  # this process is alive: its write may be under way
    live.write_bytes(b"half")
    other = tmp_path / f".history.json.{2 ** 22 + 1}.0a1b2c3d.tmp"  # another file's temp: not this write's business
    other.write_bytes(b"half")
    atomic_write(tmp_path / "model.npz", lambda f: f.write(b"new"))
    assert live.exists() and other.exists()


def test_a_failed_write_leaves_neither_file_nor_temp(tmp_path):
    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "model.npz", fail)
    assert list(tmp_path.iterdir()) == []


def test_output_paths_are_checked_without_writing_anything(tmp_path):
    assert check_output(tmp_path / "new" / "deeper" / "model.npz") == tmp_path / "new" / "deeper" / "model.npz"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "plain").write_text("a file")
    (tmp_path / "model.npz").mkdir()
    bad = {
        tmp_path / "plain" / "model.npz": "plain is a file, not a folder",
        tmp_path / "model.npz": "is a folder; expected a file name",
        "/proc/self/nope/model.npz": "cannot write in /proc",
    }
    for path, reason in bad.items():
        with pytest.raises(OutputPathError, match=reason):
            check_output(path)


def test_output_folders_are_checked(tmp_path):
    assert check_folder(tmp_path / "runs") == tmp_path / "runs"
    (tmp_path / "plain").write_text("a file")
    with pytest.raises(OutputPathError, match="plain: is a file; expected a folder"):
        check_folder(tmp_path / "plain")
    with pytest.raises(OutputPathError, match="cannot write in /proc"):
        check_folder("/proc/runs")


def test_a_locked_folder_refuses_a_second_writer(tmp_path):
    first = lock_folder(tmp_path / "run")
    with first, pytest.raises(OutputPathError, match=r"run: another run \(pid \d+\) is writing here"), \
            lock_folder(tmp_path / "run"):
        pass
    with lock_folder(tmp_path / "run"):  # released on exit
        pass


def test_a_killed_holder_releases_its_lock(tmp_path):
    holder = "import sys, time; from scratch.io import lock_folder\nwith lock_folder(sys.argv[1]):\n" \
             "    print('locked', flush=True); time.sleep(60)\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline() == "locked\n"
    with pytest.raises(OutputPathError, match="another run"), lock_folder(tmp_path):
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with lock_folder(tmp_path):
        pass


def test_json_is_strict():
    text = json_text({"rtol": math.inf, "loss": [1.0, math.nan, -math.inf], "ok": True})
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in strict JSON")) == {
        "rtol": None, "loss": [1.0, None, None], "ok": True}


def test_saved_json_is_strict(tmp_path):
    path = save_json(tmp_path / "summary.json", {"test_loss": math.nan})
    assert json.loads(path.read_text()) == {"test_loss": None}
