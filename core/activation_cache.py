"""On-disk activation cache: one ``.npy`` per (everything that changes the numbers), verified on every hit.

The key is the sha256 of a JSON record of: cache format, model name, weights tag and weights
hash, preprocessing fingerprint, layer, token mode, reduction (method, components, seed, fit
size), stimulus-set content hash and stimulus order. Any change gives a new key, so a stale
entry is never returned. Each entry is ``<key>.npy`` plus ``<key>.json`` (the key record, the
array's shape and the file's CRC-32); the JSON is written last, so an entry without it does not
exist. A hit whose file no longer matches its checksum is reported, deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .home import data_home

__all__ = ["CACHE_ENV", "FORMAT", "ActivationCache"]

CACHE_ENV = "BRAINBENCH_ACTIVATIONS"
FORMAT = 2
_CHUNK = 1 << 22


def _file_crc32(path: Path) -> int:
    """CRC-32 of the file: catches truncation and flipped bits at memory speed (not an adversary)."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


class ActivationCache:
    """Features on disk under ``root`` (default ``$BRAINBENCH_ACTIVATIONS`` or ``<data home>/activations``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get(CACHE_ENV) or data_home() / "activations")

    @staticmethod
    def key(record: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps({"format": FORMAT, **record}, sort_keys=True).encode()).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def has(self, key: str) -> bool:
        return self._paths(key)[1].exists()

    def load(self, key: str) -> np.ndarray | None:
        """The cached array (memory-mapped, read-only), or None when absent or corrupt."""
        array_path, meta_path = self._paths(key)
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if not array_path.exists() or _file_crc32(array_path) != meta["crc32"]:
                raise ValueError("its checksum does not match")
            array = np.load(array_path, mmap_mode="r")
            if list(array.shape) != meta["shape"]:
                raise ValueError(f"its shape {array.shape} is not the recorded {meta['shape']}")
        except (ValueError, KeyError, OSError) as exc:
            warnings.warn(f"activation cache entry {array_path} is corrupt ({exc}); recomputing it", stacklevel=2)
            array_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return None
        return array

    def store(self, key: str, array: np.ndarray, record: dict[str, Any]) -> np.ndarray:
        """Write ``array`` atomically and return it memory-mapped from the cache."""
        array_path, meta_path = self._paths(key)
        array_path.parent.mkdir(parents=True, exist_ok=True)
        for path, write in ((array_path, lambda f: np.save(f, array)), (meta_path, None)):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
            try:
                with os.fdopen(fd, "wb") as f:
                    if write is not None:
                        write(f)
                    else:
                        meta = {"record": record, "shape": list(array.shape), "crc32": _file_crc32(array_path)}
                        f.write(json.dumps(meta, indent=1, default=str).encode())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return np.load(array_path, mmap_mode="r")
