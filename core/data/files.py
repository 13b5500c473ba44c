"""Atomic writes (a file or folder appears complete or not at all), and array files read with clear errors."""

from __future__ import annotations

import os
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["atomic_dir", "atomic_path", "load_array"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``: it replaces ``path`` when the block succeeds, and is removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies, as for open()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``path``: it replaces ``path`` (a folder, if any) when the block succeeds, and is
    removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    tmp.mkdir(0o777)  # the umask applies, as for mkdir
    try:
        yield tmp
        old = tmp.with_suffix(".old")
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _temporary(path: Path) -> Path:
    """A fresh hidden name beside ``path``. Unlike tempfile's files (mode 0600), what is made under it gets the
    user's umask, so results written to a shared data home stay readable by the group."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")


def load_array(path: str | Path, shape: tuple[int | None, ...] | None = None, *, key: str | None = None) -> np.ndarray:
    """A float64 array from a ``.npy`` file (or member ``key`` of a ``.npz``) of the given ``shape``
    (``None`` = any length, or any shape); an unreadable file or another shape is a :class:`DataFileError`."""
    from ..errors import DataFileError

    fix = "delete it and fetch it again (brainbench data rm / fetch)"
    try:
        loaded = np.load(path, allow_pickle=False)
        if key is not None:
            with loaded:
                if key not in loaded.files:
                    raise DataFileError(f"{path} has no array {key!r} (it has {loaded.files}); {fix}")
                loaded = loaded[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"{path} is not a readable NumPy file ({exc}); {fix}") from None
    if shape is not None and (loaded.ndim != len(shape) or any(w is not None and g != w for g, w in zip(loaded.shape, shape))):
        raise DataFileError(f"{path} has shape {loaded.shape}, expected {shape}; {fix}")
    return loaded.astype(np.float64)
