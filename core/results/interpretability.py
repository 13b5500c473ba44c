"""A stored interpretability index (II, Klindt et al. 2023): one layer's per-unit values, their baseline, and where
they come from, as the results store keeps them (:meth:`~brainbench.results.store.ResultsStore.add_interpretability`).

Built by :meth:`brainbench.interpret.measure.InterpretabilityResult.record`; read back with
:meth:`~brainbench.results.store.ResultsStore.get_interpretability` and compared with
:func:`brainbench.interpret.stats.compare_records`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["InterpretabilityProvenance", "InterpretabilityRecord"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InterpretabilityProvenance(_Frozen):
    """Where an II comes from: the model (name, weights, the weights hash and code its activations were computed
    with), the probe set (identifier, sha256 of its content, size), the image distance (registered name, what it
    is, its version) and the image size it saw, the unit selection and readout, the seed of the unit sample and of
    the baseline's random sets, the versions, the time and the device."""

    model: str
    weights: str
    weights_hash: str
    code: dict[str, str]
    probe: str
    probe_hash: str
    n_probe: int
    distance: str
    distance_name: str
    distance_version: str
    image_size: int
    k: int
    readout: str
    unit_selection: str  # "all", "given" or "sample of N (seed S)"
    seed: int
    baseline_sets: int
    brainbench_version: str
    created: str
    device: str


class InterpretabilityRecord(_Frozen):
    """II of the units of one layer: ``units`` (indices under ``readout``), per unit ``ii`` (1 - mean distance over
    the k(k-1)/2 distinct pairs of its top images), ``mean_distance``, ``normalised`` ((II - baseline mean) /
    baseline sd), its ``top_images`` (stimulus ids, best first, strings as written) and ``top_values``
    (activations); ``baseline`` the same statistic over random k-image sets of the probe set."""

    model: str
    layer: str
    units: list[int]
    ii: list[float]
    mean_distance: list[float]
    normalised: list[float]
    top_images: list[list[str]]
    top_values: list[list[float]]
    baseline: list[float]
    provenance: InterpretabilityProvenance

    @model_validator(mode="after")
    def _aligned(self) -> InterpretabilityRecord:
        n = len(self.units)
        lengths = {len(self.ii), len(self.mean_distance), len(self.normalised), len(self.top_images), len(self.top_values)}
        if n == 0 or lengths != {n}:
            raise ValueError(f"per-unit lists must all have one entry per unit ({n} units); got lengths {sorted(lengths)}")
        if not all(math.isfinite(v) for v in self.ii):
            raise ValueError("II values must be finite")
        return self

    @property
    def distance(self) -> str:
        return self.provenance.distance

    @property
    def k(self) -> int:
        return self.provenance.k

    @property
    def ii_mean(self) -> float:
        return sum(self.ii) / len(self.ii)

    @property
    def ii_sd(self) -> float:
        return _sd(self.ii)

    @property
    def baseline_mean(self) -> float:
        return sum(self.baseline) / len(self.baseline)

    @property
    def baseline_sd(self) -> float:
        return _sd(self.baseline)

    @property
    def normalised_mean(self) -> float:
        return sum(self.normalised) / len(self.normalised)

    def to_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> InterpretabilityRecord:
        return cls.model_validate(json.loads(text))

    def label(self) -> str:
        """``model layer (readout, distance, k=K)``: how comparisons name it."""
        p = self.provenance
        return f"{self.model} {self.layer} ({p.readout}, {p.distance}, k={p.k})"


def _sd(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
