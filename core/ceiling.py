"""Noise ceilings from repeated trials.

Split-half reliability per neuroid: split the repetitions into two random halves, average
each, correlate the halves across stimuli (r_h), and correct to the full number of
repetitions with Spearman-Brown, rho = 2 r_h / (1 + r_h); average rho over random halvings.
A perfect model predicts the noisy repeat-averaged response with Pearson r at most
sqrt(rho) (rho is the share of variance that is signal), so that is the ceiling for r.
"""

from __future__ import annotations

import numpy as np

from .errors import AssemblyError

__all__ = ["CEILING_RULE", "spearman_brown", "split_half_reliability"]

CEILING_RULE = "v1: normalised = r / sqrt(split-half Spearman-Brown reliability), per subject: mean r / mean ceiling"


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


def split_half_reliability(trials: np.ndarray, n_splits: int = 20, seed: int = 0) -> np.ndarray:
    """Spearman-Brown corrected split-half reliability per neuroid.

    ``trials`` is ``(repetition, stimulus, neuroid)``, NaN where a stimulus lacks a trial.
    """
    n_reps = trials.shape[0]
    if n_reps < 2:
        raise AssemblyError(f"split-half reliability needs at least 2 repetitions; the data have {n_reps}")
    rng = np.random.default_rng(seed)
    rhos = []
    with np.errstate(invalid="ignore"):
        for _ in range(n_splits):
            perm = rng.permutation(n_reps)
            half_a = np.nanmean(trials[perm[: n_reps // 2]], axis=0)
            half_b = np.nanmean(trials[perm[n_reps // 2 :]], axis=0)
            rhos.append(spearman_brown(_pearson_columns(half_a, half_b)))
    return np.mean(rhos, axis=0)
