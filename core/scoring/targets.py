"""What a benchmark scores against: the scorer's view of a dataset's assembly, shaped as the metric declares.

A metric declares what it scores (:attr:`brainbench.Metric.target`, a :class:`~brainbench.MetricTarget`: the form of
its target and its units), and :func:`prepare_target` shapes the dataset's assembly for it through a table
(:data:`PREPARE`, keyed by the assembly's form and the metric's):
- responses for a metric of responses (encoding, eRSA, CKA): the repeat-averaged responses; a unit is a neuroid
  (encoding), a subject's RDM (eRSA predicts responses and turns them into one RDM per subject) or a subject
  (population metrics such as CKA, no ceiling);
- responses for a metric of RDMs (RSA): one RDM per subject, over its neuroids, with the metric's distance; a unit
  is a subject's RDM;
- RDMs for a metric of RDMs (brain data that exists only as RDMs): a subject's entries (e.g. sessions) averaged
  into one RDM; a unit is a subject's RDM;
- RDMs for a metric of responses: an error (BrainbenchError) saying to use an RSA metric.

The ceilings of these targets are computed by the rules of :mod:`brainbench.scoring.ceiling` (``ceilings`` and
``Ceiling`` are offered here too, where brainbench 0.1 had them).

``subjects = "pooled"`` scores every subject's neuroids as one population (subject ``"pooled"``), as
Brain-Score does: one median over all neuroids, one ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.assembly import average_repetitions, select, validate_assembly
from ..errors import AssemblyError, BrainbenchError
from ..rdm.distances import rdms_of_responses
from ..rdm.rdms import is_rdm_assembly, mean_per_subject
from .ceiling import Ceiling, ceilings

if TYPE_CHECKING:
    import xarray as xr

    from ..data.stimuli import StimulusSet
    from ..registry.cards import BenchmarkSpec
    from ..registry.contracts import Dataset, Metric, MetricTarget

__all__ = ["POOLED", "PREPARE", "Ceiling", "Target", "ceilings", "prepare_target"]

POOLED = "pooled"  # the one subject of a benchmark with subjects = "pooled"


@dataclass
class Target:
    """The metric's target (``data``), its stimulus ids in order, and what the ceiling needs."""

    data: xr.DataArray
    ids: list[str]
    unit_dim: str  # "neuroid", "rdm" or "subject"
    split_column: np.ndarray | None = None  # per stimulus, what the split protocol reads (SplitSpec.column)
    trials: xr.DataArray | None = None  # raw trials of a neural assembly (for split-half ceilings)
    distance: str = "correlation"
    comparison: str = "spearman"


def prepare_target(spec: BenchmarkSpec, dataset: Dataset, stimuli: StimulusSet, metric: Metric) -> Target:
    """Select the benchmark's region and subjects, validate, and shape the target as ``metric`` declares
    (:attr:`brainbench.Metric.target`), by :data:`PREPARE` of the assembly's form and the metric's."""
    declared = metric.target
    subjects = None if spec.subjects in ("all", POOLED) else spec.subjects
    assembly = dataset.assembly(spec.region, subjects)
    source = "rdms" if is_rdm_assembly(assembly) else "responses"
    return PREPARE[source, declared.form](spec, assembly, subjects, stimuli, metric, declared)


def _rdms_as_given(spec: BenchmarkSpec, assembly: xr.DataArray, subjects: Any, stimuli: StimulusSet, metric: Metric,
                   declared: MetricTarget) -> Target:
    """A dataset's RDMs for a metric of RDMs: each subject's entries (e.g. sessions) averaged into one RDM."""
    if spec.subjects == POOLED:
        raise BrainbenchError(f"benchmark {spec.id}: dataset {spec.dataset} has RDMs only, whose subjects cannot be "
                              "pooled into one population; declare subjects = \"all\"")
    rdms = mean_per_subject(select(assembly, spec.region, subjects))
    ids = [str(s) for s in rdms["stimulus_id"].values]
    _check_known(spec, ids, stimuli)
    return Target(rdms, ids, "rdm", _split_column(spec, ids, stimuli, None), distance=declared.distance,
                  comparison=declared.comparison)


def _rdms_for_responses_metric(spec: BenchmarkSpec, assembly: xr.DataArray, subjects: Any, stimuli: StimulusSet,
                               metric: Metric, declared: MetricTarget) -> Target:
    """A dataset's RDMs for a metric of responses: nothing to score (BrainbenchError naming what would)."""
    raise BrainbenchError(
        f"benchmark {spec.id}: dataset {spec.dataset} has RDMs only (no responses), which metric {spec.metric!r} "
        f"(kind {metric.card.kind}) cannot score; use an RSA metric, e.g. --metric rsa"
    )


def _trials(spec: BenchmarkSpec, assembly: xr.DataArray, subjects: Any,
            stimuli: StimulusSet) -> tuple[xr.DataArray, xr.DataArray, list[str], np.ndarray | None]:
    """The benchmark's trials (subjects pooled where asked), validated; their repeat average, its stimulus ids, and
    the column the split protocol reads."""
    trials = select(assembly, spec.region, subjects)
    if spec.subjects == POOLED:
        trials = trials.assign_coords(subject=("neuroid", np.full(trials.sizes["neuroid"], POOLED)))
    validate_assembly(trials, stimulus_set=stimuli, allow_nan="repetition" in trials.coords)
    averaged = average_repetitions(trials)
    if not np.isfinite(averaged.values).all():
        raise AssemblyError(f"benchmark {spec.id}: some neuroids have no finite response for some stimuli after averaging trials")
    ids = [str(s) for s in averaged["stimulus_id"].values]
    return trials, averaged, ids, _split_column(spec, ids, stimuli, averaged)


def _responses(spec: BenchmarkSpec, assembly: xr.DataArray, subjects: Any, stimuli: StimulusSet, metric: Metric,
               declared: MetricTarget) -> Target:
    """Responses for a metric of responses: the repeat-averaged responses, scored per the declared unit."""
    trials, averaged, ids, column = _trials(spec, assembly, subjects, stimuli)
    return Target(averaged, ids, declared.unit, column, trials, declared.distance, declared.comparison)


def _rdms_of_responses(spec: BenchmarkSpec, assembly: xr.DataArray, subjects: Any, stimuli: StimulusSet,
                       metric: Metric, declared: MetricTarget) -> Target:
    """Responses for a metric of RDMs: one RDM per subject over its neuroids, with the metric's distance."""
    trials, _, ids, column = _trials(spec, assembly, subjects, stimuli)
    return Target(rdms_of_responses(trials, declared.distance), ids, "rdm", column, trials, declared.distance,
                  declared.comparison)


# (the assembly's form, the form the metric declares) -> how the target is prepared
PREPARE: dict[tuple[str, str], Callable[..., Target]] = {
    ("responses", "responses"): _responses,
    ("responses", "rdms"): _rdms_of_responses,
    ("rdms", "rdms"): _rdms_as_given,
    ("rdms", "responses"): _rdms_for_responses_metric,
}


def _check_known(spec: BenchmarkSpec, ids: list[str], stimuli: StimulusSet) -> None:
    missing = sorted(set(ids) - set(stimuli.ids))
    if missing:
        raise AssemblyError(f"benchmark {spec.id}: {len(missing)} RDM stimulus ids are not in stimulus set "
                            f"{stimuli.identifier!r}, e.g. {missing[:5]}")


def _split_column(spec: BenchmarkSpec, ids: list[str], stimuli: StimulusSet, averaged: xr.DataArray | None) -> np.ndarray | None:
    """The column the split protocol reads (``stratify_by``, or a fixed split's ``test_by``): a coord of the
    responses, else a column of the stimulus table."""
    column = spec.splits.column
    if not column:
        return None
    if averaged is not None and column in averaged.coords:
        return averaged[column].values
    table = stimuli.table.set_index("stimulus_id")
    if column not in table.columns:
        raise BrainbenchError(f"benchmark {spec.id} splits by {column!r}, which is neither a coord of the "
                              f"responses nor a stimulus-set column ({', '.join(map(str, table.columns))})")
    return table.loc[ids, column].values
