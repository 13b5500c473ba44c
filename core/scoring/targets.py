"""What a benchmark scores against, and its ceiling: the scorer's view of a dataset's assembly.

A target has *units*, the things a metric scores one by one and the scorer averages per subject:
- encoding metrics on a neural assembly: the repeat-averaged responses; a unit is a neuroid;
- RSA on a neural assembly: one RDM per subject, over its neuroids; a unit is a subject's RDM;
- RSA on an RDM assembly (brain data that exists only as RDMs): a subject's entries (e.g. sessions)
  averaged into one RDM; a unit is a subject's RDM;
- encoding RSA (eRSA) on a neural assembly: the repeat-averaged responses, which the metric predicts and
  turns into one RDM per subject; a unit is a subject's RDM.
- population metrics (CKA) on a neural assembly: the repeat-averaged responses; a unit is a subject
  (no ceiling).

Ceilings, per unit (the ceiling of the score the metric reports for that unit):
- ``split_half`` on neuroids: sqrt of the Spearman-Brown split-half reliability (:mod:`brainbench.scoring.ceiling`);
- ``split_half`` on subject RDMs: sqrt of the Spearman-Brown corrected comparison of the RDMs of two
  halves of the repetitions, on each split's test stimuli, averaged over splits;
- ``ncsnr`` on neuroids (NSD): sqrt(NC), NC = ncsnr^2 / (ncsnr^2 + mean_i 1/n_i) (Allen et al. 2022); on
  subject RDMs (RSA, eRSA), a per-voxel ceiling does not apply and the split-half RDM ceiling is used;
- ``nili`` on subject RDMs: the upper bound c(D_s, mean_t D_t) on each split's test stimuli, averaged
  over splits (:func:`brainbench.rdm.ceilings.subject_ceilings`); the lower (leave-one-subject-out) bound is kept.
- ``internal_consistency`` on neuroids: Brain-Score's rule, exactly: the ceiling is the mean over
  halvings of the median Spearman-Brown split-half r (:func:`brainbench.scoring.ceiling.internal_consistency`),
  and the normalised score is r^2 / ceiling (``Ceiling.power = 2``).

``subjects = "pooled"`` scores every subject's neuroids as one population (subject ``"pooled"``), as
Brain-Score does: one median over all neuroids, one ceiling.

Every rule's ceiling divides a score only where it is trusted (:func:`brainbench.scoring.ceiling.why_untrusted`, one
threshold for all, :data:`brainbench.scoring.ceiling.MIN_RELIABILITY`): per subject, from the subject's units'
reliabilities (split-half reliability or NC per neuroid, the split-half reliability of the subject's RDM, or its
lower Nili bound); a subject whose ceiling is not trusted keeps its raw score and ceiling and has no normalised
score, and then neither has the benchmark (:meth:`Ceiling.apply`). Nili bounds are the group's: no subject
is normalised unless all subjects' lower bounds, taken together, are trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.assembly import average_repetitions, select, trials_by_repetition, validate_assembly
from .ceiling import (BRAINSCORE_RULE, CEILING_RULE, TRUST_RULE, internal_consistency, normalise, spearman_brown,
                      split_half_reliability, why_untrusted)
from ..errors import AssemblyError, BrainbenchError
from ..rdm.ceilings import subject_ceilings
from ..rdm.comparisons import compare
from ..rdm.distances import rdm_of_repetitions, rdms_of_responses
from ..rdm.rdms import is_rdm_assembly, mean_per_subject, subject_groups, upper_triangle

if TYPE_CHECKING:
    import xarray as xr

    from ..registry.cards import BenchmarkSpec
    from ..registry.contracts import Dataset
    from .splits import Split
    from ..data.stimuli import StimulusSet

__all__ = ["POOLED", "Ceiling", "Target", "ceilings", "prepare_target"]

POOLED = "pooled"  # the one subject of a benchmark with subjects = "pooled"

RSA_SPLIT_HALF_RULE = ("v2: RSA on responses: normalised = r / sqrt(Spearman-Brown split-half reliability of the subject's "
                       "RDM on each split's test stimuli, mean over splits), per subject; " + TRUST_RULE)
NILI_RULE = ("v2: RDM targets: normalised = r / upper noise-ceiling bound (Nili et al. 2014: subject RDM vs the mean of "
             "all subjects, on each split's test stimuli, mean over splits), per subject; the lower bound is kept and is "
             "the reliability the trust rule reads; " + TRUST_RULE)
NCSNR_RULE = ("v2: NSD: normalised = r / sqrt(NC), NC = ncsnr^2 / (ncsnr^2 + mean over images of 1/trials averaged), "
              "per subject: mean r / mean ceiling over voxels; " + TRUST_RULE)


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


@dataclass
class Ceiling:
    """Per-unit ceilings of the reported score (``None`` without one), the rule, and what to tell the user.

    A subject's normalised score is raw^power / ceiling, its ceiling its units' ceilings aggregated as
    its score is, or, given ``per_halving`` (Brain-Score's rule), the mean over halvings of the median;
    it exists only where the ceiling is trusted (:meth:`apply`). ``reliability`` holds the per-unit
    reliabilities the trust rule reads (for Nili bounds, the lower bounds), named by ``measure``."""

    per_unit: np.ndarray | None = None
    rule: str = "none"
    lower: np.ndarray | None = None  # Nili lower bounds
    reliability: np.ndarray | None = None  # split-half reliability (or NC) per unit, unclipped
    notes: list[str] = field(default_factory=list)
    per_halving: np.ndarray | None = None  # (halving, unit)
    power: int = 1
    measure: str = "split-half reliability"  # what ``reliability`` (or ``lower``) holds, for the user
    shared: bool = False  # the units' reliabilities are one group's (Nili bounds): a subject needs the group trusted

    def of(self, units: np.ndarray, aggregate: Callable[[np.ndarray], float]) -> float | None:
        """The ceiling of the subject whose units are ``units`` (a mask or indices)."""
        if self.per_halving is not None:
            return float(np.mean(np.median(self.per_halving[:, units], axis=1)))
        return None if self.per_unit is None else float(aggregate(self.per_unit[units]))

    def apply(self, raw: float, units: np.ndarray, aggregate: Callable[[np.ndarray], float],
              unit_name: str = "neuroids") -> tuple[float | None, float | None, str | None]:
        """(ceiling, normalised, why there is no normalised score) of the subject whose units are ``units`` and
        whose score is ``raw``: normalised = raw^power / ceiling where :func:`~brainbench.scoring.ceiling.why_untrusted`
        trusts the ceiling, else ``None`` and the reason; ``(None, None, None)`` without a ceiling."""
        ceiling = self.of(units, aggregate)
        if self.per_unit is None and self.per_halving is None:
            return None, None, None
        evidence = self.reliability if self.reliability is not None else self.lower
        if evidence is None:  # a rule that keeps no reliabilities: its ceilings are what it rests on
            evidence = self.per_unit
        why = None
        if self.shared:  # every subject's bound depends on the others: the group first
            group = why_untrusted(float(np.mean(self.per_unit)), evidence, measure=self.measure, units=unit_name)
            why = group and f"the subjects barely agree: {group}"
        why = why or why_untrusted(ceiling, evidence[units], measure=self.measure, units=unit_name)
        return ceiling, None if why else normalise(raw, ceiling, self.power), why


def prepare_target(spec: BenchmarkSpec, dataset: Dataset, stimuli: StimulusSet, metric: Any) -> Target:
    """Select the benchmark's region and subjects, validate, and shape the target for ``metric``."""
    subjects = None if spec.subjects in ("all", POOLED) else spec.subjects
    assembly = dataset.assembly(spec.region, subjects)
    rsa = metric.card.kind == "rsa"
    options = {"distance": getattr(metric, "distance", "correlation"), "comparison": getattr(metric, "comparison", "spearman")}
    if is_rdm_assembly(assembly):
        if not rsa:
            raise BrainbenchError(
                f"benchmark {spec.id}: dataset {spec.dataset} has RDMs only (no responses), which metric {spec.metric!r} "
                f"(kind {metric.card.kind}) cannot score; use an RSA metric, e.g. --metric rsa"
            )
        if spec.subjects == POOLED:
            raise BrainbenchError(f"benchmark {spec.id}: dataset {spec.dataset} has RDMs only, whose subjects cannot be "
                                  "pooled into one population; declare subjects = \"all\"")
        rdms = mean_per_subject(select(assembly, spec.region, subjects))
        ids = [str(s) for s in rdms["stimulus_id"].values]
        _check_known(spec, ids, stimuli)
        return Target(rdms, ids, "rdm", _split_column(spec, ids, stimuli, None), **options)
    trials = select(assembly, spec.region, subjects)
    if spec.subjects == POOLED:
        trials = trials.assign_coords(subject=("neuroid", np.full(trials.sizes["neuroid"], POOLED)))
    validate_assembly(trials, stimulus_set=stimuli, allow_nan="repetition" in trials.coords)
    averaged = average_repetitions(trials)
    if not np.isfinite(averaged.values).all():
        raise AssemblyError(f"benchmark {spec.id}: some neuroids have no finite response for some stimuli after averaging trials")
    ids = [str(s) for s in averaged["stimulus_id"].values]
    column = _split_column(spec, ids, stimuli, averaged)
    if rsa:
        return Target(rdms_of_responses(trials, options["distance"]), ids, "rdm", column, trials, **options)
    units = {"encoding_rsa": "rdm", "population": "subject"}.get(metric.card.kind, "neuroid")  # what is scored
    return Target(averaged, ids, units, column, trials, **options)


def ceilings(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """The benchmark's ceiling for each unit of ``target`` (see the module docstring)."""
    if spec.ceiling == "none":
        return Ceiling()
    if target.unit_dim == "subject":
        raise BrainbenchError(f"benchmark {spec.id}: metric {spec.metric!r} scores whole subjects, for which brainbench has "
                              f"no {spec.ceiling!r} ceiling; declare ceiling = \"none\"")
    if spec.ceiling == "ncsnr" and target.unit_dim == "neuroid":
        return _ncsnr(spec, target)
    if spec.ceiling == "nili":
        if target.trials is not None:
            raise BrainbenchError(f"benchmark {spec.id}: the 'nili' ceiling is for RDM targets; use 'split_half' for responses")
        return _nili(spec, target, splits)
    if target.trials is None or "repetition" not in target.trials.coords:
        raise BrainbenchError(
            f"benchmark {spec.id} asks for a split-half ceiling, but its assembly has no repeated trials; "
            "declare ceiling = \"none\" (or \"nili\" for RDMs of several subjects) in its registry entry"
        )
    _, by_rep = trials_by_repetition(target.trials)
    if spec.ceiling == "internal_consistency":
        if target.unit_dim != "neuroid":
            raise BrainbenchError(f"benchmark {spec.id}: the 'internal_consistency' ceiling is Brain-Score's, for encoding "
                                  f"metrics scored per neuroid; metric {spec.metric!r} scores {target.unit_dim}s")
        halvings = internal_consistency(by_rep)
        per_neuroid = halvings.mean(0)
        return Ceiling(per_neuroid, BRAINSCORE_RULE, reliability=per_neuroid, per_halving=halvings, power=2,
                       measure="Spearman-Brown split-half r (mean over halvings)")
    if target.unit_dim == "neuroid":
        reliability = split_half_reliability(by_rep, seed=spec.splits.seed)
        return Ceiling(_root(reliability), CEILING_RULE, reliability=reliability)
    rho = _rdm_reliability(by_rep, target, splits, spec.splits.seed)
    return Ceiling(_root(rho), RSA_SPLIT_HALF_RULE, reliability=rho, measure="split-half reliability of the RDM")


def _root(reliability: np.ndarray) -> np.ndarray:
    """The ceiling of r per unit, sqrt(reliability): 0 where the reliability is negative or not a number (a unit
    without variance), so one such unit lowers a subject's ceiling instead of making it NaN."""
    return np.sqrt(np.clip(np.nan_to_num(reliability, nan=0.0), 0, None))


def _ncsnr(spec: BenchmarkSpec, target: Target) -> Ceiling:
    """NSD's noise ceiling per voxel: NC = ncsnr^2 / (ncsnr^2 + mean_i 1/n_i), n_i the trials averaged for image i."""
    if target.trials is None or "ncsnr" not in target.trials.coords:
        raise BrainbenchError(f"benchmark {spec.id}: the 'ncsnr' ceiling needs an 'ncsnr' coord on the neuroids (NSD)")
    if "repetition" in target.trials.coords:
        _, by_rep = trials_by_repetition(target.trials)
        n = np.isfinite(by_rep).sum(0).astype(float)  # (stimulus, neuroid)
    else:
        n = np.ones(target.data.shape)
    mean_inverse = (1 / n).mean(0)
    snr2 = np.asarray(target.trials["ncsnr"].values, dtype=float) ** 2
    nc = snr2 / (snr2 + mean_inverse)
    return Ceiling(np.sqrt(nc), NCSNR_RULE, reliability=nc, measure="noise ceiling NC")


def _nili(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    values = target.data.values
    if len(values) < 2:
        raise BrainbenchError(
            f"benchmark {spec.id}: a noise ceiling across subjects needs at least 2 subjects' RDMs, and this one has "
            f"{len(values)}; declare ceiling = \"none\""
        )
    bounds = [subject_ceilings(values[:, s.test][:, :, s.test], target.comparison) for s in splits]
    lower, upper = (np.mean([b[i] for b in bounds], axis=0) for i in (0, 1))
    return Ceiling(upper, NILI_RULE, lower=lower, shared=True,
                   measure="lower noise-ceiling bounds (agreement with the other subjects' mean RDM)")


def _rdm_reliability(by_rep: np.ndarray, target: Target, splits: Sequence[Split], seed: int, n_halvings: int = 10) -> np.ndarray:
    """Spearman-Brown split-half reliability of each subject's RDM on the test stimuli, mean over splits and halvings.

    ``by_rep`` is ``(repetition, stimulus, neuroid)`` in the order of the trials' first appearance, which is the
    target's stimulus order (:func:`brainbench.data.assembly.average_repetitions` keeps first-seen order)."""
    n_reps = by_rep.shape[0]
    needed = 4 if target.distance == "crossnobis" else 2  # a crossnobis RDM per half needs 2 repetitions
    if n_reps < needed:
        raise AssemblyError(f"split-half reliability of {target.distance} RDMs needs at least {needed} repetitions; "
                            f"the data have {n_reps}")
    groups = subject_groups(target.trials)  # the units of target.data, in the same (first-seen) order
    rng = np.random.default_rng(seed)
    rhos = np.zeros((n_halvings, len(splits), len(groups)))
    with np.errstate(invalid="ignore"):
        for h in range(n_halvings):
            perm = rng.permutation(n_reps)
            halves = by_rep[perm[: n_reps // 2]], by_rep[perm[n_reps // 2:]]
            for u, cols in enumerate(groups.values()):
                a, b = (rdm_of_repetitions(half[:, :, cols], target.distance) for half in halves)
                for k, split in enumerate(splits):
                    sub = np.ix_(split.test, split.test)
                    rhos[h, k, u] = compare(upper_triangle(a[sub]), upper_triangle(b[sub]), target.comparison)
    return spearman_brown(rhos).mean((0, 1))


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
