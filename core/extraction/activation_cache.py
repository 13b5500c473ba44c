"""On-disk activation cache: one ``.npy`` per (everything that changes the numbers), verified on every hit.

The key is the sha256 of a JSON record of: cache format, model name, weights tag and weights
hash (read from the module's state when the extraction is planned: :mod:`brainbench.extraction.identity`),
preprocessing fingerprint, the versions of the code the forward pass runs (torch and every
package defining one of the model's modules; a source file's hash outside any distribution) and
its module tree, the prefix tokens, the device type, layer, token mode, reduction (method,
components, seed, fit size), stimulus-set content hash and stimulus order. Any change gives a new key, so a stale
entry is never returned. Each entry is ``<key>.npy`` plus ``<key>.json`` (the key record, the
array's shape and the file's CRC-32); the JSON is written last, so an entry without it does not
exist. A hit whose file no longer matches its checksum is reported, deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..data.files import atomic_path
from ..data.home import data_home

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

    def verify(self, key: str) -> bool:
        """Whether an intact entry exists; a corrupt one is reported (a warning) and deleted."""
        array_path, meta_path = self._paths(key)
        if not meta_path.exists():
            return False
        try:
            meta = json.loads(meta_path.read_text())
            if not array_path.exists() or _file_crc32(array_path) != meta["crc32"]:
                raise ValueError("its checksum does not match")
            shape = np.load(array_path, mmap_mode="r").shape
            if list(shape) != meta["shape"]:
                raise ValueError(f"its shape {shape} is not the recorded {meta['shape']}")
        except (ValueError, KeyError, OSError) as exc:
            warnings.warn(f"activation cache entry {array_path} is corrupt ({exc}); recomputing it", stacklevel=2)
            array_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return False
        return True

    def read(self, key: str) -> np.ndarray:
        """A verified entry, memory-mapped read-only."""
        return np.load(self._paths(key)[0], mmap_mode="r")

    def store(self, key: str, array: np.ndarray, record: dict[str, Any]) -> np.ndarray:
        """Write ``array`` and then its record (the commit marker), each atomically; return it memory-mapped."""
        array_path, meta_path = self._paths(key)
        with atomic_path(array_path) as tmp, open(tmp, "wb") as f:
            np.save(f, array)
        meta = {"record": record, "shape": list(array.shape), "crc32": _file_crc32(array_path)}
        with atomic_path(meta_path) as tmp:
            tmp.write_text(json.dumps(meta, indent=1, default=str))
        return self.read(key)
