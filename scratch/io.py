"""Safe file output: atomic writes with the user's umask, output paths checked before work starts, strict JSON."""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np


class OutputPathError(ValueError):
    """An output cannot be written where it was asked for; the message names the path, the reason and what to do."""


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _sweep_dead_temps(path: Path) -> None:
    """Remove temp files of earlier writes to `path` whose writer died (killed mid-write); a live writer's stay."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    for tmp in path.parent.iterdir():
        match = pattern.fullmatch(tmp.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (PermissionError, OverflowError):  # alive under another user; or no such process number
            continue


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(f)` on a temporary file beside `path`, flush it to disk, then rename it over `path`.

    The file gets the mode the umask allows (0644 under the usual 022), like any file the user creates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_dead_temps(path)
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, unlike mkstemp's 0600
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(folder: str | os.PathLike) -> Path:
    """Make sure `folder` is, or can be made, a folder this process can write in; nothing is left behind."""
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        where = "" if existing == folder else f", so {folder} cannot be made"
        raise OutputPathError(f"{existing}: is a file; expected a folder{where}; choose another path")
    probe = _temp_name(existing / "probe")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError as err:
        raise OutputPathError(f"{folder}: cannot write in {existing} ({err.strerror}); choose another path") from err
    probe.unlink()
    return folder


def check_output(path: str | os.PathLike) -> Path:
    """Make sure a file can be written at `path` (its folder made if need be) before the work that produces it."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; expected a file name; choose another path or remove the folder")
    if path.exists() and not path.is_file():
        raise OutputPathError(f"{path}: exists and is not a regular file; choose another path")
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise OutputPathError(f"{path}: {existing.name} is a file, not a folder, so {path.name} cannot be written "
                              f"under it; choose another path")
    check_folder(path.parent)
    return path


@contextlib.contextmanager
def lock_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold `folder` for one run: a second run that asks while this one holds it gets an OutputPathError.

    The lock (flock on a hidden file) dies with its process, so a killed run never leaves it held.
    """
    folder = check_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".lock"
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise OutputPathError(f"{folder}: another run (pid {holder}) is writing here; wait for it to finish "
                                  "or choose another folder") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield folder


def _finite_or_none(obj):
    """NaN and infinities as None (JSON null), everywhere in nested dicts, lists and tuples."""
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(value) for value in obj]
    return obj


def json_text(obj, indent: int | None = 2) -> str:
    """Strict JSON (no NaN or Infinity, which JSON does not have): non-finite numbers become null."""
    return json.dumps(_finite_or_none(obj), indent=indent, allow_nan=False)


def save_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write(path, lambda f: f.write((json_text(obj) + "\n").encode()))


def save_npz(path: str | os.PathLike, arrays: dict) -> Path:
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
