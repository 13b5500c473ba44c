"""Noise ceilings from repeated trials.

Split-half reliability per neuroid: split the repetitions into two random halves, average
each, correlate the halves across stimuli (r_h), and correct to the full number of
repetitions with Spearman-Brown, rho = 2 r_h / (1 + r_h); average rho over random halvings.
A perfect model predicts the noisy repeat-averaged response with Pearson r at most
sqrt(rho) (rho is the share of variance that is signal), so that is the ceiling for r.

Brain-Score's ``InternalConsistency`` (brainscore_vision 2.x) halves the repetitions with scikit-learn's
``ShuffleSplit(10, train_size=0.5, random_state=1)`` over the sorted repetition values, and its
benchmarks normalise r^2 by the mean over halvings of the median Spearman-Brown corrected r
(:func:`internal_consistency` gives the per-halving values; :data:`BRAINSCORE_RULE`).

**Which ceilings may divide a score** (one rule for every ceiling rule, per subject and aggregated;
:func:`why_untrusted`). A ceiling rests on one reliability per scoring unit: the Spearman-Brown split-half
reliability of a neuroid or of a subject's RDM, NSD's NC of a voxel, Brain-Score's internal consistency of a
neuroid, or, for RDM targets, a subject's lower noise-ceiling bound (its agreement with the other subjects).
Pure noise gives reliabilities scattered around zero, and clipping the negative ones before the square root
leaves a positive ceiling (about 0.2 for 40 stimuli) that would inflate any score divided by it. So a ceiling
is trusted only when it, the median of the reliabilities it rests on, and their mean less two standard errors
(over units) all lie above :data:`MIN_RELIABILITY` (0.05); a reliability that is not a number (a unit without
variance) counts as 0. Otherwise the score has no normalised value (``None``), the raw score stands, and a
:class:`~brainbench.errors.CeilingWarning` says why. A benchmark's normalised score is the mean of its
subjects' and exists only where every subject's does. Measured on simulated pure noise (40 stimuli x 4
repetitions, 1000 draws): 98 % of draws of 6 neuroids and all of 50 are refused; data of reliability 0.5 (6
neuroids) pass in 99.5 % of draws, and 0.3 is refused in about 30 %: with few units a ceiling that passes
says the data are not shown to be noise, not that they are reliable.

**The ceiling rules** (:data:`CEILING_RULES`, one function per rule a benchmark may declare; :func:`ceilings` looks
the benchmark's up, and an unknown name is a ConfigError naming the rules).

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..data.assembly import trials_by_repetition
from ..errors import AssemblyError, BrainbenchError, ConfigError
from ..rdm.ceilings import subject_ceilings
from ..rdm.comparisons import compare
from ..rdm.distances import rdm_of_repetitions
from ..rdm.rdms import subject_groups, upper_triangle

if TYPE_CHECKING:
    from ..registry.cards import BenchmarkSpec
    from .splits import Split
    from .targets import Target

__all__ = ["BRAINSCORE_RULE", "CEILING_RULE", "CEILING_RULES", "MIN_RELIABILITY", "TRUST_RULE", "Ceiling", "ceilings",
           "internal_consistency", "normalise", "spearman_brown", "split_half_reliability", "why_untrusted"]

MIN_RELIABILITY = 0.05  # a ceiling, and the reliability it rests on, must exceed this to divide a score (why_untrusted)
_STANDARD_ERRORS = 2  # the mean reliability less this many standard errors must exceed MIN_RELIABILITY
TRUST_RULE = (f"normalised only where the ceiling, the median of its units' reliabilities and their mean less "
              f"{_STANDARD_ERRORS} standard errors exceed {MIN_RELIABILITY} (else None, raw kept)")
CEILING_RULE = ("v2: normalised = r / sqrt(split-half Spearman-Brown reliability), per subject: mean r / mean ceiling; "
                + TRUST_RULE)
BRAINSCORE_RULE = ("v2: Brain-Score 2.x (explained_variance): normalised = r^2 / ceiling, r = the metric's score; ceiling = "
                   "InternalConsistency: mean over 10 halvings of the repetitions (ShuffleSplit 50/50, seed 1) of the median "
                   "over neuroids of the Spearman-Brown corrected Pearson r between the halves' means; " + TRUST_RULE)
RSA_SPLIT_HALF_RULE = ("v2: RSA on responses: normalised = r / sqrt(Spearman-Brown split-half reliability of the subject's "
                       "RDM on each split's test stimuli, mean over splits), per subject; " + TRUST_RULE)
NILI_RULE = ("v2: RDM targets: normalised = r / upper noise-ceiling bound (Nili et al. 2014: subject RDM vs the mean of "
             "all subjects, on each split's test stimuli, mean over splits), per subject; the lower bound is kept and is "
             "the reliability the trust rule reads; " + TRUST_RULE)
NCSNR_RULE = ("v2: NSD: normalised = r / sqrt(NC), NC = ncsnr^2 / (ncsnr^2 + mean over images of 1/trials averaged), "
              "per subject: mean r / mean ceiling over voxels; " + TRUST_RULE)


def normalise(raw, ceiling, power: int = 1):
    """A ceiling-normalised score, raw^power / ceiling (power 1: r / ceiling; 2: Brain-Score's r^2 / ceiling)."""
    return raw**power / ceiling


def why_untrusted(ceiling: float | None, reliability: np.ndarray, *, measure: str = "split-half reliability",
                  units: str = "neuroids") -> str | None:
    """Why ``ceiling`` may not divide a score, or ``None`` when it may (the module docstring's rule).

    ``ceiling`` is a subject's (or a benchmark's) ceiling as the score is normalised by it; ``reliability`` holds
    the per-unit reliabilities it rests on (``measure`` and ``units`` name them in the reason), NaN counted as 0.
    Untrusted: a ceiling that is missing, not a number or at most :data:`MIN_RELIABILITY`; or reliabilities whose
    median is at most :data:`MIN_RELIABILITY` (at least half of the units unreliable), or whose mean less two
    standard errors (SD over units / sqrt(units); none for one unit) is at most :data:`MIN_RELIABILITY` (not
    told apart from noise).

    >>> why_untrusted(0.8, np.array([0.6, 0.7, 0.65])) is None
    True
    >>> why_untrusted(-0.089, np.array([0.1, -0.2]))
    'the ceiling is -0.089, at or below 0.05'
    """
    if ceiling is None or not np.isfinite(ceiling):
        return "the ceiling is not a number (no unit has a measurable reliability)"
    if ceiling <= MIN_RELIABILITY:
        return f"the ceiling is {ceiling:.3f}, at or below {MIN_RELIABILITY}"
    values = np.nan_to_num(np.asarray(reliability, dtype=np.float64).ravel(), nan=0.0)
    if values.size == 0:
        return "the ceiling rests on no unit"
    mean, median = float(values.mean()), float(np.median(values))
    error = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else 0.0
    if median <= MIN_RELIABILITY or mean - _STANDARD_ERRORS * error <= MIN_RELIABILITY:
        spread = f" (standard error {error:.3f})" if values.size > 1 else ""
        counted = f"{values.size} {units}" if values.size > 1 else f"1 {units.removesuffix('s')}"
        return (f"the ceiling {ceiling:.3f} rests on {measure} of mean {mean:.3f}{spread} and median {median:.3f} over "
                f"{counted}, {int((values <= 0).sum())} of them at or below 0; the median, or the mean less "
                f"{_STANDARD_ERRORS} standard errors, is at or below {MIN_RELIABILITY}")
    return None


def spearman_brown(r: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """Reliability of a measure ``factor`` times longer: factor*r / (1 + (factor-1)*r)."""
    return factor * r / (1 + (factor - 1) * r)


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns, ignoring rows where either is NaN."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    n = ok.sum(0)
    ma, mb = a.sum(0) / n, b.sum(0) / n
    da, db = np.where(ok, a - ma, 0.0), np.where(ok, b - mb, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (da * db).sum(0) / np.sqrt((da**2).sum(0) * (db**2).sum(0))


def _halves_consistency(trials: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman-Brown corrected r per neuroid between the means of two sets of repetitions."""
    with np.errstate(invalid="ignore"):
        return spearman_brown(_pearson_columns(np.nanmean(trials[first], axis=0), np.nanmean(trials[second], axis=0)))


def _check_repetitions(trials: np.ndarray) -> None:
    if trials.shape[0] < 2:
        raise AssemblyError(f"split-half reliability needs at least 2 repetitions; the data have {trials.shape[0]}")


def split_half_reliability(trials: np.ndarray, n_splits: int = 20, seed: int = 0) -> np.ndarray:
    """Spearman-Brown corrected split-half reliability per neuroid, the mean over random halvings.

    ``trials`` is ``(repetition, stimulus, neuroid)``, NaN where a stimulus lacks a trial.
    """
    _check_repetitions(trials)
    n_reps = trials.shape[0]
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(n_reps) for _ in range(n_splits)]
    return np.mean([_halves_consistency(trials, p[: n_reps // 2], p[n_reps // 2:]) for p in perms], axis=0)


def internal_consistency(trials: np.ndarray, n_splits: int = 10, seed: int = 1) -> np.ndarray:
    """Brain-Score's split-half consistency, ``(halving, neuroid)``: halvings by ``ShuffleSplit(n_splits,
    train_size=0.5, random_state=seed)`` over the repetitions (``trials`` as :func:`split_half_reliability`'s,
    repetitions in sorted order)."""
    from sklearn.model_selection import ShuffleSplit

    _check_repetitions(trials)
    halvings = ShuffleSplit(n_splits=n_splits, train_size=0.5, random_state=seed).split(np.zeros(trials.shape[0]))
    return np.array([_halves_consistency(trials, first, second) for first, second in halvings])


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


def ceilings(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """The benchmark's ceiling for each unit of ``target``: the rule :data:`CEILING_RULES` holds under the
    benchmark's ``ceiling`` name (see the module docstring).

    Raises ConfigError for a rule that is not in the table (naming the rules there are) and BrainbenchError for a
    rule the target cannot have (any but ``none`` for a metric that scores whole subjects; each rule's own needs)."""
    from ..names import close_matches

    rule = CEILING_RULES.get(spec.ceiling)
    if rule is None:
        close = close_matches(str(spec.ceiling), CEILING_RULES)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ConfigError(f"benchmark {spec.id}: ceiling rule {spec.ceiling!r} is not known{hint}; the rules are "
                          f"{', '.join(CEILING_RULES)}: declare one of them as its ceiling in the registry entry")
    if spec.ceiling != "none" and target.unit_dim == "subject":
        raise BrainbenchError(f"benchmark {spec.id}: metric {spec.metric!r} scores whole subjects, for which brainbench has "
                              f"no {spec.ceiling!r} ceiling; declare ceiling = \"none\"")
    return rule(spec, target, splits)


def _no_ceiling(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """``none``: no ceiling, no normalised score."""
    return Ceiling()


def _repetitions(spec: BenchmarkSpec, target: Target) -> np.ndarray:
    """The target's trials as ``(repetition, stimulus, neuroid)``, for the rules that split the repetitions."""
    if target.trials is None or "repetition" not in target.trials.coords:
        raise BrainbenchError(
            f"benchmark {spec.id} asks for a split-half ceiling, but its assembly has no repeated trials; "
            "declare ceiling = \"none\" (or \"nili\" for RDMs of several subjects) in its registry entry"
        )
    return trials_by_repetition(target.trials)[1]


def _split_half(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """``split_half``: sqrt of the Spearman-Brown split-half reliability of each neuroid, or of each subject's RDM
    on each split's test stimuli (mean over splits)."""
    by_rep = _repetitions(spec, target)
    if target.unit_dim == "neuroid":
        reliability = split_half_reliability(by_rep, seed=spec.splits.seed)
        return Ceiling(_root(reliability), CEILING_RULE, reliability=reliability)
    rho = _rdm_reliability(by_rep, target, splits, spec.splits.seed)
    return Ceiling(_root(rho), RSA_SPLIT_HALF_RULE, reliability=rho, measure="split-half reliability of the RDM")


def _internal_consistency(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """``internal_consistency``: Brain-Score's rule, for encoding metrics scored per neuroid (r^2 / ceiling)."""
    by_rep = _repetitions(spec, target)
    if target.unit_dim != "neuroid":
        raise BrainbenchError(f"benchmark {spec.id}: the 'internal_consistency' ceiling is Brain-Score's, for encoding "
                              f"metrics scored per neuroid; metric {spec.metric!r} scores {target.unit_dim}s")
    halvings = internal_consistency(by_rep)
    per_neuroid = halvings.mean(0)
    return Ceiling(per_neuroid, BRAINSCORE_RULE, reliability=per_neuroid, per_halving=halvings, power=2,
                   measure="Spearman-Brown split-half r (mean over halvings)")


def _ncsnr(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """``ncsnr``, NSD's noise ceiling per voxel: NC = ncsnr^2 / (ncsnr^2 + mean_i 1/n_i), n_i the trials averaged for
    image i; for subject RDMs (RSA, eRSA), where a per-voxel ceiling does not apply, the split-half RDM ceiling."""
    if target.unit_dim != "neuroid":
        return _split_half(spec, target, splits)
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


def _root(reliability: np.ndarray) -> np.ndarray:
    """The ceiling of r per unit, sqrt(reliability): 0 where the reliability is negative or not a number (a unit
    without variance), so one such unit lowers a subject's ceiling instead of making it NaN."""
    return np.sqrt(np.clip(np.nan_to_num(reliability, nan=0.0), 0, None))


def _nili(spec: BenchmarkSpec, target: Target, splits: Sequence[Split]) -> Ceiling:
    """Nili et al.'s bounds for RDM targets: per subject, its RDM against the mean of all subjects' (upper) and of the
    others' (lower), on each split's test stimuli, mean over splits."""
    if target.trials is not None:
        raise BrainbenchError(f"benchmark {spec.id}: the 'nili' ceiling is for RDM targets; use 'split_half' for responses")
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


# The ceiling rules by the name a benchmark declares (BenchmarkSpec.ceiling): (spec, target, splits) -> Ceiling.
CEILING_RULES: dict[str, Callable[[BenchmarkSpec, Target, Sequence[Split]], Ceiling]] = {
    "split_half": _split_half,
    "internal_consistency": _internal_consistency,
    "ncsnr": _ncsnr,
    "nili": _nili,
    "none": _no_ceiling,
}
