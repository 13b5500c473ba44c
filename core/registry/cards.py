"""Cards: the typed metadata every registered item carries (pydantic, ``extra="forbid"``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BenchmarkSpec", "Card", "DatasetCard", "ImageDistanceCard", "LeaderboardSpec", "MetricCard", "ModelCard", "SplitSpec", "TunerCard"]


class Card(BaseModel):
    """Base card: a name and a description; subclasses add what listing filters on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-*]+)?$")
    description: str = ""

    def metadata(self) -> dict[str, Any]:
        """Flat metadata used by ``--where`` filters and listing tables."""
        return self.model_dump(exclude_none=True)


class ModelCard(Card):
    """What a model is, so that comparisons can be controlled (same family, data, task...).

    ``training_data`` uses timm's dataset tokens, joined by ``+`` in training order (``in1k``,
    ``in21k+in1k``, ``laion2b``, ``ig3.6b+in1k``), so one filter finds a dataset across sources.
    ``tuned_from`` is the parent model's name for a tuned model (:mod:`brainbench.tuning.saved`), so
    ``--where tuned_from=resnet18`` lists the tuned models of a parent; None for any other model.
    """

    source: str
    architecture: str
    task: str = "classification"
    training_data: str = "unknown"
    input_size: int | None = None
    parameters: int | None = None
    weights: list[str] = Field(default_factory=lambda: ["random"])
    offline_weights: bool = False
    url: str | None = None
    tuned_from: str | None = None


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
    simulated: bool = False  # True when no brain recorded the responses (a simulation validates the machinery only)


class MetricCard(Card):
    """``kind`` says what the metric scores: ``encoding`` (per neuroid), ``rsa`` (per subject RDM, against RDMs),
    ``encoding_rsa`` (per subject RDM, from responses it fits), ``population`` (per subject, from its
    responses, e.g. CKA), ``model_only``. ``protocol`` holds benchmark
    settings the metric's reference fixes (e.g. ``splits``, ``layer_selection``); a benchmark derived with
    this metric (``<base>-<metric>``) takes them."""

    version: str
    kind: Literal["encoding", "rsa", "encoding_rsa", "population", "model_only"] = "encoding"
    higher_is_better: bool = True
    protocol: dict[str, Any] = Field(default_factory=dict)


class TunerCard(Card):
    version: str


class ImageDistanceCard(Card):
    """An image distance (the similarity function of the interpretability index): ``reference`` is its source
    (paper or code), ``offline_weights`` whether it runs with no download, ``version`` changes whenever its values
    would (stored II results record it)."""

    version: str
    reference: str = ""
    offline_weights: bool = False


class SplitSpec(BaseModel):
    """A fixed split protocol over stimuli."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kfold", "shuffle", "even_odd", "fixed"] = "kfold"
    n_splits: int = Field(5, ge=1)
    test_size: float | None = Field(None, gt=0, lt=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # scikit-learn's random_state takes no more
    stratify_by: str | None = None
    test_by: str | None = None  # fixed: the boolean column (responses' coord or stimulus column) marking test stimuli

    @model_validator(mode="before")
    @classmethod
    def _one_fixed_split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("kind", "kfold")
        if kind in ("even_odd", "fixed"):
            what = ("even_odd is one fixed split (even positions train, odd test)" if kind == "even_odd" else
                    "fixed is one split (test stimuli marked by the test_by column, the rest train)")
            if data.get("n_splits", 1) != 1 or data.get("test_size") or data.get("stratify_by"):
                raise ValueError(f"{what}: it takes no n_splits, test_size or stratify_by")
            if (kind == "fixed") != bool(data.get("test_by")):
                raise ValueError("a fixed split needs test_by, the boolean column marking test stimuli (e.g. "
                                 "shared1000)" if kind == "fixed" else f"{what}: it takes no test_by")
            data = {**data, "n_splits": 1}
        elif data.get("test_by"):
            raise ValueError(f"test_by belongs to the fixed split kind, not {kind}")
        elif kind == "kfold" and data.get("n_splits", 5) < 2:
            raise ValueError("kfold needs n_splits >= 2")
        return data

    @property
    def column(self) -> str | None:
        """The stimulus column the protocol reads: ``stratify_by``, or a fixed split's ``test_by``."""
        return self.stratify_by or self.test_by


class BenchmarkSpec(BaseModel):
    """One ``[benchmarks."<dataset>.<region>"]`` entry of registry.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    dataset: str
    region: str | list[str]
    subjects: list[str] | Literal["all", "pooled"] = "all"
    metric: str
    metric_options: dict[str, Any] = Field(default_factory=dict)
    splits: SplitSpec = Field(default_factory=SplitSpec)
    ceiling: Literal["split_half", "internal_consistency", "ncsnr", "nili", "none"] = "split_half"
    layer_selection: Literal["benchmark", "subject"] = "benchmark"
    aggregate: Literal["mean", "median"] = "mean"
    version: str
    description: str = ""

    def metadata(self) -> dict[str, Any]:
        return {**self.model_dump(exclude={"splits"}), "splits": self.splits.kind}


class LeaderboardSpec(BaseModel):
    """Which models (patterns) x which benchmarks (patterns) a leaderboard shows, and how its cells aggregate.

    ``aggregation`` is a tree of named nodes, each the mean of its members: benchmark-id patterns or other nodes'
    names (e.g. ``{V4 = ["cowley2023.V4"], IT = ["kriegeskorte2008.*"]}``). The root, ``root`` (default
    ``"average"``), is the mean of the nodes no other node names (of every benchmark when there are none).
    ``missing`` is the rule for a node with a missing or failed member: ``"incomplete"`` (default) shows the node as
    missing with the members it lacks, never a number averaged over the rest; ``"partial"`` shows the mean of the
    members present, always flagged with how many of how many it covers, and a node whose members are all present
    but one of whose member nodes is partial is flagged as partial too, naming it. Raises ValidationError for a node naming
    itself (directly or through others), a node named like the root, or an empty node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    models: list[str] = Field(default_factory=lambda: ["*"])
    benchmarks: list[str]
    aggregation: dict[str, list[str]] = Field(default_factory=dict)
    root: str = "average"
    missing: Literal["incomplete", "partial"] = "incomplete"

    @model_validator(mode="after")
    def _tree(self) -> LeaderboardSpec:
        if self.root in self.aggregation:
            raise ValueError(f"aggregation node {self.root!r} has the root's name; the root is the mean of the "
                             "top-level nodes, so rename the node or set `root`")
        for node, members in self.aggregation.items():
            if not members:
                raise ValueError(f"aggregation node {node!r} has no members; list benchmark patterns or node names")

        def visit(node: str, path: tuple[str, ...]) -> None:
            if node in path:
                raise ValueError(f"aggregation cycle: {' -> '.join((*path, node))}")
            for member in self.aggregation.get(node, []):
                if member in self.aggregation:
                    visit(member, (*path, node))

        for node in self.aggregation:
            visit(node, ())
        return self
