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
"""

from __future__ import annotations

import numpy as np

from .errors import AssemblyError

__all__ = ["BRAINSCORE_RULE", "CEILING_RULE", "internal_consistency", "normalise", "spearman_brown",
           "split_half_reliability"]

CEILING_RULE = "v1: normalised = r / sqrt(split-half Spearman-Brown reliability), per subject: mean r / mean ceiling"
BRAINSCORE_RULE = ("v1: Brain-Score 2.x (explained_variance): normalised = r^2 / ceiling, r = the metric's score; ceiling = "
                   "InternalConsistency: mean over 10 halvings of the repetitions (ShuffleSplit 50/50, seed 1) of the median "
                   "over neuroids of the Spearman-Brown corrected Pearson r between the halves' means")


def normalise(raw, ceiling, power: int = 1):
    """A ceiling-normalised score, raw^power / ceiling (power 1: r / ceiling; 2: Brain-Score's r^2 / ceiling)."""
    return raw**power / ceiling


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
