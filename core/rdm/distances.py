"""RDM distances: one RDM from responses (stimulus x feature), or from repeated trials (crossnobis).

RDMs of responses X (stimulus x feature), row i = x_i:
  correlation   d_ij = 1 - pearson(x_i, x_j)
  cosine        d_ij = 1 - <x_i, x_j> / (|x_i| |x_j|)
  euclidean     d_ij = |x_i - x_j|;   sqeuclidean  d_ij = |x_i - x_j|^2
computed from the n x n Gram matrix, accumulated over chunks of features (memory n^2 plus one chunk, never
n^2 p). A stimulus whose responses are constant (correlation) or zero (cosine) has no direction: its
dissimilarity to every other stimulus is 1. Dissimilarities within rounding of 0 (``ROUNDING`` epsilons of
their scale) are 0, so identical patterns give an exactly constant RDM, which compares as NaN (scored 0).

Crossnobis (cross-validated Mahalanobis) needs repeated measurements: with K independent repetitions
(folds) of the patterns M_k (stimulus x channel), noise precision P (identity: cross-validated Euclidean)
and p channels,
  d_ij = 1/(K(K-1) p) sum_{k != l} (m_ki - m_kj)^T P (m_li - m_lj)
an unbiased estimate of the squared Mahalanobis distance of the true patterns (it can be negative);
it equals rsatoolbox's leave-one-fold-out ``calc_rdm_crossnobis`` for balanced folds.

:func:`check_distance` is the one check of a distance's name, used by every caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..checks import check_choice
from ..errors import AssemblyError
from .rdms import rdm_assembly, subject_groups

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DISTANCES", "TRIAL_DISTANCES", "check_distance", "crossnobis", "dissimilarity", "noise_precision",
           "rdm_of_repetitions", "rdms_of_responses"]

DISTANCES = ("correlation", "cosine", "euclidean", "sqeuclidean")  # of one response pattern per stimulus
TRIAL_DISTANCES = (*DISTANCES, "crossnobis")  # of repeated trials: crossnobis needs them
CHUNK_BYTES = 2**28  # features converted to float64 at a time when building a Gram matrix
ROUNDING = 64  # dissimilarities within this many float64 epsilons (of their scale) of 0 are 0


def check_distance(distance: object, what: str = "RDM distance", *, trials: bool = False) -> str:
    """``distance`` if it is one of :data:`DISTANCES` (with ``trials``, of :data:`TRIAL_DISTANCES`: crossnobis too);
    else :class:`~brainbench.errors.ConfigError` naming ``what`` was given, the known distances and close matches."""
    return check_choice(distance, what, TRIAL_DISTANCES if trials else DISTANCES)


def dissimilarity(X, distance: str = "correlation", *, device: str | None = None) -> np.ndarray:
    """The ``(n, n)`` RDM of the rows of ``X`` (n, p) under ``distance`` (see the module docstring), in float64.

    ``X`` may be float32 of any width: the Gram matrix is accumulated over chunks of features."""
    import torch

    from ..device import pick_device

    check_distance(distance)
    X = np.asarray(X)
    X = X.reshape(len(X), -1)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    dev = pick_device(device)
    n, p = X.shape
    step = max(1, CHUNK_BYTES // (8 * max(n, 1)))
    gram = torch.zeros((n, n), dtype=torch.float64, device=dev)
    row_mean = torch.from_numpy(X.mean(1, dtype=np.float64)).to(dev) if distance == "correlation" else None
    for start in range(0, p, step):
        chunk = torch.tensor(X[:, start:start + step], dtype=torch.float64, device=dev)  # a copy: X may be read-only
        if distance == "correlation":
            chunk = chunk - row_mean[:, None]
        elif distance != "cosine":  # euclidean distances do not change; centring avoids cancellation in the Gram form
            chunk = chunk - chunk.mean(0)
        gram += chunk @ chunk.T
    return _from_gram(gram, distance)


def _from_gram(gram, distance: str) -> np.ndarray:
    import torch

    sq = torch.diagonal(gram)
    eps = torch.finfo(gram.dtype).eps
    if distance in ("correlation", "cosine"):
        constant = sq <= eps * sq.max()
        norm = torch.where(constant, torch.inf, sq.sqrt())  # a constant row correlates 0 with every other
        d = 1 - gram / norm[:, None] / norm[None, :]
        d = torch.where(d.abs() <= ROUNDING * eps, 0.0, d)  # identical patterns: exactly 0, not rounding noise
    else:
        scale = sq[:, None] + sq[None, :]
        d = scale - 2 * gram
        d = torch.where(d <= ROUNDING * eps * scale, 0.0, d)
        if distance == "euclidean":
            d = d.sqrt()
    d = (d + d.T) / 2
    d.fill_diagonal_(0)
    return d.cpu().numpy()


def crossnobis(by_rep: np.ndarray, precision: np.ndarray | None = None, *, device: str | None = None) -> np.ndarray:
    """Crossnobis RDM ``(n, n)`` from ``(repetition, stimulus, channel)`` patterns (module docstring).

    Every stimulus needs every repetition (folds must be balanced); ``precision`` is the channels'
    noise precision (default identity: cross-validated Euclidean)."""
    import torch

    from ..device import pick_device

    by_rep = np.asarray(by_rep, dtype=np.float64)
    if by_rep.ndim != 3 or by_rep.shape[0] < 2:
        raise AssemblyError(f"crossnobis needs (repetition, stimulus, channel) patterns with at least 2 repetitions; "
                            f"got shape {by_rep.shape}")
    incomplete = ~np.isfinite(by_rep).all(axis=(0, 2))
    if incomplete.any():
        raise AssemblyError(
            f"crossnobis needs every stimulus measured in every repetition; {int(incomplete.sum())} of "
            f"{by_rep.shape[1]} stimuli miss some (or have NaN channels); select stimuli with complete repetitions, "
            "or use a distance on repeat-averaged responses (correlation, euclidean)")
    M = torch.from_numpy(by_rep).to(pick_device(device))
    if precision is not None:
        L = torch.linalg.cholesky(torch.from_numpy(np.asarray(precision, dtype=np.float64)).to(M.device))
        M = M @ L  # m P m' = (m L)(m' L)^T
    total = M.sum(0)
    cross = total @ total.T - torch.einsum("kip,kjp->ij", M, M)  # sum over ordered pairs of different folds
    k, p = by_rep.shape[0], by_rep.shape[2]
    sq = torch.diagonal(cross)
    d = (sq[:, None] + sq[None, :] - cross - cross.T) / (k * (k - 1) * p)
    d = (d + d.T) / 2
    d.fill_diagonal_(0)
    return d.cpu().numpy()


def noise_precision(by_rep: np.ndarray) -> np.ndarray:
    """Noise precision of the channels from the residuals of trials around their stimulus means, with
    Ledoit-Wolf shrinkage (scikit-learn), for :func:`crossnobis`."""
    from sklearn.covariance import LedoitWolf

    residuals = (by_rep - np.nanmean(by_rep, 0, keepdims=True)).reshape(-1, by_rep.shape[-1])
    residuals = residuals[np.isfinite(residuals).all(1)]
    return np.linalg.inv(LedoitWolf(assume_centered=True).fit(residuals).covariance_)


def rdms_of_responses(assembly: xr.DataArray, distance: str = "correlation") -> xr.DataArray:
    """One RDM per subject (and region) over its neuroids, from single trials (``repetition`` coord) or
    repeat-averaged responses (:func:`rdm_of_repetitions`; crossnobis needs the trials)."""
    from ..data.assembly import trials_by_repetition

    check_distance(distance, trials=True)
    if "repetition" in assembly.coords:
        ids, by_rep = trials_by_repetition(assembly)
    elif distance == "crossnobis":
        raise AssemblyError("the crossnobis distance needs single trials with a 'repetition' coord; these "
                            "responses are averaged")
    else:
        ids, by_rep = assembly["stimulus_id"].values, np.asarray(assembly.values)[None]
    groups = subject_groups(assembly)
    rdms = [rdm_of_repetitions(by_rep[:, :, mask], distance) for mask in groups.values()]
    return rdm_assembly(np.stack(rdms), stimulus_id=ids, subject=[s for s, _ in groups],
                        region=[r for _, r in groups], attrs={"distance": distance})


def rdm_of_repetitions(by_rep: np.ndarray, distance: str) -> np.ndarray:
    """The RDM of ``(repetition, stimulus, channel)`` trials: crossnobis across them, or ``distance`` of their mean."""
    if distance == "crossnobis":
        return crossnobis(by_rep)
    return dissimilarity(np.nanmean(by_rep, 0), distance)
