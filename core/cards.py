"""Cards: the typed metadata every registered item carries (pydantic, ``extra="forbid"``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BenchmarkSpec", "Card", "DatasetCard", "LeaderboardSpec", "MetricCard", "ModelCard", "SplitSpec", "TunerCard"]


class Card(BaseModel):
    """Base card: a name and a description; subclasses add what listing filters on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-*]+)?$")
    description: str = ""

    def metadata(self) -> dict[str, Any]:
        """Flat metadata used by ``--where`` filters and listing tables."""
        return self.model_dump(exclude_none=True)


class ModelCard(Card):
    """What a model is, so that comparisons can be controlled (same family, data, task...)."""

    source: str
    architecture: str
    task: str = "classification"
    training_data: str = "imagenet1k"
    input_size: int | None = None
    parameters: int | None = None
    weights: list[str] = Field(default_factory=lambda: ["random"])
    offline_weights: bool = False
    url: str | None = None


class DatasetCard(Card):
    species: str
    recording: str
    regions: list[str]
    subjects: list[str] = Field(default_factory=list)
    n_stimuli: int | None = None
    url: str | None = None
    license: str | None = None
    citation: str | None = None
    needs_download: bool = True


class MetricCard(Card):
    version: str
    kind: Literal["encoding", "rsa", "model_only"] = "encoding"
    higher_is_better: bool = True


class TunerCard(Card):
    version: str


class SplitSpec(BaseModel):
    """A fixed split protocol over stimuli."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kfold", "shuffle"] = "kfold"
    n_splits: int = Field(5, ge=2)
    test_size: float | None = Field(None, gt=0, lt=1)
    seed: int = 0
    stratify_by: str | None = None


class BenchmarkSpec(BaseModel):
    """One ``[benchmarks."<dataset>.<region>"]`` entry of registry.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    dataset: str
    region: str | list[str]
    subjects: list[str] | Literal["all"] = "all"
    metric: str
    splits: SplitSpec = Field(default_factory=SplitSpec)
    ceiling: Literal["split_half", "ncsnr", "nili", "none"] = "split_half"
    version: str
    description: str = ""

    def metadata(self) -> dict[str, Any]:
        return {**self.model_dump(exclude={"splits"}), "splits": self.splits.kind}


class LeaderboardSpec(BaseModel):
    """Which models (patterns) x which benchmarks (patterns) a leaderboard shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    models: list[str] = Field(default_factory=lambda: ["*"])
    benchmarks: list[str]
