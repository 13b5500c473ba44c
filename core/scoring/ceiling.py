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
"""

from __future__ import annotations

import numpy as np

from ..errors import AssemblyError

__all__ = ["BRAINSCORE_RULE", "CEILING_RULE", "MIN_RELIABILITY", "TRUST_RULE", "internal_consistency", "normalise",
           "spearman_brown", "split_half_reliability", "why_untrusted"]

MIN_RELIABILITY = 0.05  # a ceiling, and the reliability it rests on, must exceed this to divide a score (why_untrusted)
_STANDARD_ERRORS = 2  # the mean reliability less this many standard errors must exceed MIN_RELIABILITY
TRUST_RULE = (f"normalised only where the ceiling, the median of its units' reliabilities and their mean less "
              f"{_STANDARD_ERRORS} standard errors exceed {MIN_RELIABILITY} (else None, raw kept)")
CEILING_RULE = ("v2: normalised = r / sqrt(split-half Spearman-Brown reliability), per subject: mean r / mean ceiling; "
                + TRUST_RULE)
BRAINSCORE_RULE = ("v2: Brain-Score 2.x (explained_variance): normalised = r^2 / ceiling, r = the metric's score; ceiling = "
                   "InternalConsistency: mean over 10 halvings of the repetitions (ShuffleSplit 50/50, seed 1) of the median "
                   "over neuroids of the Spearman-Brown corrected Pearson r between the halves' means; " + TRUST_RULE)


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
