"""The compact form of a result's per-unit values (brainbench.results.compact): exact round trips, and its size."""

import json
import math
import struct
import zlib

import numpy as np
import pytest

from brainbench.results.compact import MAGIC, pack, unpack


def _kinds(blob):
    raw = zlib.decompress(blob[len(MAGIC):])
    (n,) = struct.unpack_from("<I", raw)
    return {key: kind for key, kind, _ in json.loads(raw[4:4 + n])}


def test_round_trip_is_exact_and_none_stays_none():
    rng = np.random.default_rng(0)
    full = rng.normal(size=200).tolist()  # full float64 precision: written as float64
    rounded = np.round(rng.normal(0.2, 0.1, 300), 6).tolist() + [None, 0.0, -1.0, 123456.654321]
    values = {"neuroid_id": [f"n{i:03d}" for i in range(200)] + ["ünïcode id", "a,b\x00c"], "subject": ["s1"] * 3,
              "full": full, "rounded": rounded, "none": None, "ints": [1, 2, 3], "mixed": [1, "x", None, 0.5],
              "empty": [], "negative_zero": [-0.0, 0.5]}
    blob = pack(values)
    back = unpack(blob)
    assert back == values and list(back) == list(values)
    assert [v.hex() for v in back["full"]] == [v.hex() for v in full]  # bit for bit
    assert [None if v is None else v.hex() for v in back["rounded"]] == \
        [None if v is None else v.hex() for v in rounded]
    assert math.copysign(1.0, back["negative_zero"][0]) == -1.0  # millionths would lose the sign: float64 keeps it
    assert type(back["ints"][0]) is int
    assert _kinds(blob) == {"neuroid_id": "json", "subject": "json", "full": "f8", "rounded": "d6", "none": "null",
                            "ints": "json", "mixed": "json", "empty": "d6",
                            "negative_zero": "f8"}


def test_non_finite_values_read_back_as_none_as_the_json_form_did():
    from brainbench import ScoreResult  # pydantic's JSON writes NaN and infinities as null

    values = {"test_r": [0.5, math.nan, math.inf, -math.inf, 0.25], "full": [0.1 + 0.2, math.nan]}
    assert unpack(pack(values)) == {"test_r": [0.5, None, None, None, 0.25], "full": [0.1 + 0.2, None]}
    assert json.loads(ScoreResult.model_construct(neuroids=values).model_dump_json(include={"neuroids"}))[
        "neuroids"] == unpack(pack(values))


def test_six_decimal_values_take_less_than_half_their_json():
    rng = np.random.default_rng(1)
    values = {"test_r": np.round(rng.normal(0.2, 0.1, 5000), 6).tolist()}
    text = json.dumps(values)
    blob = pack(values)
    assert len(blob) < len(text) / 3  # 5000 values: JSON 49,6xx bytes, the blob about 13,600
    assert unpack(blob) == values


def test_not_a_blob_is_a_value_error():
    with pytest.raises(ValueError, match="not a packed neuroid blob"):
        unpack(b'{"a": 1}')
