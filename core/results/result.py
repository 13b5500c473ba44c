"""A benchmark score with everything needed to trust and reproduce it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Interval", "LayerScore", "PairedComparison", "Provenance", "ScoreResult", "SubjectScore"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Frozen):
    model: str
    weights: str
    weights_hash: str
    benchmark: str
    benchmark_version: str
    metric: str
    metric_version: str
    brainbench_version: str
    split_seed: int
    model_seed: int
    stimulus_set: str
    ceiling_rule: str
    created: str
    device: str
    code: dict[str, str] = Field(default_factory=dict)  # versions of the code the forward ran (extraction.forward_code)


class SubjectScore(_Frozen):
    """``n_neuroids`` counts the subject's scoring units: neuroids for encoding, RDMs for RSA; ``layer`` is the
    layer the subject's score comes from; ``normalised`` is ``None`` without a ceiling, or where the ceiling is
    too unreliable to divide the score (:func:`brainbench.scoring.ceiling.why_untrusted`; the result's notes say why)."""

    raw: float
    ceiling: float | None
    normalised: float | None
    n_neuroids: int
    layer: str | None = None


class LayerScore(_Frozen):
    """Mean over neuroids of the split-mean score; ``train`` chooses the layer, ``test`` is held out; beside them
    the layer's feature-space statistics (:mod:`brainbench.encoding.feature_stats`)."""

    train: float
    test: float
    n_features: int | None = None
    effective_dimensionality: float | None = None
    sparsity: float | None = None


class Interval(_Frozen):
    """Percentile bootstrap interval at ``level`` from ``n_boot`` replicates drawn with ``seed`` over ``over``, of the
    raw score (and the normalised one, each subject divided by its fixed ceiling); :mod:`brainbench.scoring.inference`."""

    level: float
    low: float
    high: float
    standard_error: float  # SD of the replicates
    n_boot: int
    over: Literal["stimuli", "stimuli and subjects"]
    seed: int
    normalised_low: float | None = None
    normalised_high: float | None = None


class ScoreResult(_Frozen):
    """Held-out score of ``model`` on ``benchmark`` at the layer chosen on the training splits."""

    model: str
    benchmark: str
    metric: str
    layer: str
    raw: float
    ceiling: float | None
    normalised: float | None
    subjects: dict[str, SubjectScore]
    layers: dict[str, LayerScore]
    neuroids: dict[str, list[Any] | None]  # per scoring unit (see ``unit``)
    provenance: Provenance
    unit: Literal["neuroid", "rdm", "subject"] = "neuroid"  # scored one by one: neuroids, subjects' RDMs, or subjects
    ceiling_lower: float | None = None  # lower noise-ceiling bound, where the rule has one (RDM targets)
    notes: list[str] = Field(default_factory=list)  # what a reader must know, e.g. a ceiling near zero
    interval: Interval | None = None  # bootstrap confidence interval, when asked for
    split_error: float | None = None  # Brain-Score's error: SEM of the raw score over splits (std, ddof 0, / sqrt(splits))

    def to_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> ScoreResult:
        return cls.model_validate(json.loads(text))

    def summary(self) -> dict[str, Any]:
        """The numbers a table shows (no per-neuroid values)."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "metric": self.metric,
            "layer": self.layer,
            "raw": self.raw,
            "ceiling": self.ceiling,
            "normalised": self.normalised,
        }


class PairedComparison(_Frozen):
    """``model_a``'s raw score minus ``model_b``'s on one benchmark, with its paired bootstrap interval and p-values
    (:mod:`brainbench.scoring.inference`); ``permutation`` says what was permuted (stimuli or subjects), if anything."""

    benchmark: str
    metric: str
    model_a: str
    model_b: str
    score_a: float
    score_b: float
    difference: float
    interval: Interval
    p_bootstrap: float
    p_permutation: float | None
    permutation: Literal["stimuli", "subjects"] | None
    n_permutations: int
    notes: list[str] = Field(default_factory=list)
