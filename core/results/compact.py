"""The compact form of a result's per-unit values (``ScoreResult.neuroids``) in the results store (schema revision
0003): one binary column, ``results.neuroid_values``, instead of long JSON lists in ``result_json``.

Layout of the blob::

    b"BBN1" + zlib( uint32 LE header length + header (JSON) + the arrays, one after another )

The header is a list of ``[key, kind, nbytes]`` in the dict's order; ``kind`` is

- ``"f8"``: a list of floats and ``None``: ``nbytes / 8`` little-endian float64 values, ``None`` (and any non-finite
  value) written as NaN and read back as ``None``, exactly as the JSON form did (pydantic writes NaN and infinities
  as ``null``);
- ``"d6"``: the same list when every value is a float of at most 6 decimals (the scorer rounds ``test_r`` and
  ``reliability`` to 6): ``round(v * 10**6)`` as little-endian int64 (``None`` as int64's minimum), bytes grouped by
  significance (all values' lowest bytes first, a byte shuffle as in Blosc) so that zlib squeezes the high bytes;
  read back as ``i / 10**6``, the float nearest that decimal, which is the stored float bit for bit (checked when
  written: a list that does not come back exactly is written as ``"f8"``);
- ``"json"``: any other list (strings, integers, mixed): its JSON, written as pydantic writes it;
- ``"null"``: the key's value is ``None`` (``nbytes`` 0).

Floats keep every bit (float64 in, float64 out); strings stay exactly as written.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from typing import Any

import numpy as np
from pydantic_core import to_json

__all__ = ["MAGIC", "pack", "unpack"]

MAGIC = b"BBN1"
_NONE = np.iinfo(np.int64).min
_SCALE = 1e6


def _float_array(values: list[Any]) -> np.ndarray | None:
    """``values`` as float64 (None and non-finite values as NaN) when each is a float (numpy's included) or None;
    else None."""
    types = set(map(type, values))
    if not all(t is type(None) or issubclass(t, float) for t in types):
        return None
    if type(None) in types:
        values = [math.nan if v is None else v for v in values]
    array = np.array(values, dtype="<f8")
    array[~np.isfinite(array)] = math.nan
    return array


def _decimals(array: np.ndarray) -> bytes | None:
    """``array`` (float64, NaN for None) as byte-shuffled int64 millionths, or None where that is not exact."""
    finite = ~np.isnan(array)
    if finite.any() and np.abs(array[finite]).max() >= 2.0**53 / _SCALE:
        return None
    ints = np.where(finite, np.rint(np.where(finite, array, 0.0) * _SCALE), 0.0).astype("<i8")
    if not np.array_equal((ints[finite] / _SCALE).view("<i8"), array[finite].view("<i8")):  # bit for bit (-0.0 too)
        return None
    ints[~finite] = _NONE
    return ints.view(np.uint8).reshape(-1, 8).T.tobytes()


def pack(neuroids: dict[str, list[Any] | None]) -> bytes:
    """``neuroids`` (key -> list of per-unit values, or None) as the blob described above."""
    header: list[list[Any]] = []
    parts: list[bytes] = []
    for key, values in neuroids.items():
        if values is None:
            data, kind = b"", "null"
        elif (array := _float_array(values)) is not None:
            data, kind = _decimals(array), "d6"
            if data is None:
                data, kind = array.tobytes(), "f8"
        else:
            data, kind = to_json(values), "json"
        header.append([key, kind, len(data)])
        parts.append(data)
    head = json.dumps(header, ensure_ascii=False).encode()
    return MAGIC + zlib.compress(struct.pack("<I", len(head)) + head + b"".join(parts), 3)


def _with_none(values: list[float], missing: np.ndarray) -> list[float | None]:
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            values[i] = None  # type: ignore[call-overload]
    return values  # type: ignore[return-value]


def unpack(blob: bytes) -> dict[str, list[Any] | None]:
    """The ``neuroids`` dict that :func:`pack` wrote (NaN entries of float arrays as ``None``); a ValueError when
    ``blob`` is not such a blob."""
    if not blob.startswith(MAGIC):
        raise ValueError(f"not a packed neuroid blob (starts {bytes(blob[:4])!r}, expected {MAGIC!r})")
    raw = zlib.decompress(blob[len(MAGIC):])
    (n_head,) = struct.unpack_from("<I", raw)
    header = json.loads(raw[4:4 + n_head])
    out: dict[str, list[Any] | None] = {}
    at = 4 + n_head
    for key, kind, nbytes in header:
        data = raw[at:at + nbytes]
        at += nbytes
        if kind == "null":
            out[key] = None
        elif kind == "f8":
            array = np.frombuffer(data, dtype="<f8")
            out[key] = _with_none(array.tolist(), np.isnan(array))
        elif kind == "d6":
            ints = np.frombuffer(data, dtype=np.uint8).reshape(8, -1).T.copy().view("<i8").ravel()
            missing = ints == _NONE
            out[key] = _with_none((np.where(missing, 0, ints) / _SCALE).tolist(), missing)
        elif kind == "json":
            out[key] = json.loads(data)
        else:
            raise ValueError(f"unknown kind {kind!r} for {key!r} in a packed neuroid blob")
    return out
