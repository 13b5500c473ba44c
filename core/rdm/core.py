"""RDM targets: brain data that exists only as representational dissimilarity matrices.

An RDM assembly is a DataArray with dims ``(rdm, stimulus, stimulus_b)``: one symmetric matrix per
``rdm`` entry, which carries ``subject`` and ``region`` (and e.g. ``session``) coords; ``stimulus``
and ``stimulus_b`` both carry the ``stimulus_id`` (as ``stimulus_id`` and ``stimulus_id_b``).
RSA-type metrics compare a model's RDM with each entry over the upper triangle.

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

Comparisons of two RDMs' upper triangles a, b (m entries): ``pearson``; ``spearman`` (Pearson of average
ranks); ``cosine`` (<a, b> / |a||b|, no centring); ``rho_a`` (12 <ra - mean, rb - mean> / (m^3 - m) of
average ranks: Spearman without tie correction); ``tau_a`` (Kendall's (concordant - discordant) / (m(m-1)/2),
which penalises a model's tied predictions; Nili et al. 2014). A comparison with a constant vector is NaN.

Noise ceiling across subjects (Nili et al. 2014), for a comparison ``c`` (Spearman by default),
with subject RDMs D_1..D_S:
  upper_s = c(D_s, mean_t D_t)          (no model can beat the subjects' own mean)
  lower_s = c(D_s, mean_{t != s} D_t)   (leave-one-subject-out: what a perfect model reaches at least)
and the bounds are their means over subjects. For rank comparisons the RDMs are rank-transformed before
averaging; for tau_a that mean is not the best-scoring RDM (Nili et al. search for it), so its upper bound
is an underestimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AssemblyError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["COMPARISONS", "DISTANCES", "RDM_DIMS", "compare", "compare_weighted", "crossnobis", "dissimilarity", "group_labels",
           "is_rdm_assembly", "mean_per_subject", "noise_ceiling", "noise_precision", "rdm_assembly", "rdm_of_repetitions",
           "rdms_of_responses", "subject_ceilings", "subject_groups", "upper_triangle", "validate_rdms"]

RDM_DIMS = ("rdm", "stimulus", "stimulus_b")
COMPARISONS = ("spearman", "pearson", "cosine", "rho_a", "tau_a")
DISTANCES = ("correlation", "cosine", "euclidean", "sqeuclidean")
CHUNK_BYTES = 2**28  # features converted to float64 at a time when building a Gram matrix
ROUNDING = 64  # dissimilarities within this many float64 epsilons (of their scale) of 0 are 0


def rdm_assembly(rdms: np.ndarray, *, stimulus_id: Sequence[str], subject: Sequence[str], region: Sequence[str] | str,
                 rdm_coords: dict[str, Sequence[object]] | None = None, attrs: dict | None = None) -> xr.DataArray:
    """A validated RDM assembly from an ``(rdm, stimulus, stimulus)`` array (or one condensed vector per RDM); ids
    and subjects become strings (:func:`brainbench.data.tables.id_strings`)."""
    import xarray as xr
    from scipy.spatial.distance import squareform

    from ..data.tables import id_strings

    rdms = np.asarray(rdms, dtype=np.float64)
    if rdms.ndim == 2:  # condensed upper triangles
        rdms = np.stack([squareform(r, checks=False) for r in rdms])
    n = len(rdms)
    regions = [region] * n if isinstance(region, str) else list(region)
    ids = id_strings(stimulus_id, "RDM stimulus ids")
    coords = {"subject": ("rdm", id_strings(subject, "RDM subjects")), "region": ("rdm", regions),
              "stimulus_id": ("stimulus", ids), "stimulus_id_b": ("stimulus_b", ids)}
    coords.update({k: ("rdm", list(v)) for k, v in (rdm_coords or {}).items()})
    try:
        assembly = xr.DataArray(rdms, dims=RDM_DIMS, coords=coords, attrs={"kind": "rdm", **(attrs or {})})
    except ValueError as exc:
        raise AssemblyError(f"RDM assembly: {exc}") from None
    return validate_rdms(assembly)


def is_rdm_assembly(assembly: xr.DataArray) -> bool:
    return tuple(assembly.dims) == RDM_DIMS


def subject_groups(assembly: xr.DataArray) -> dict[tuple[str, str], np.ndarray]:
    """(subject, region) -> boolean mask over the entries that carry the ``subject`` and ``region`` coords
    (RDM entries, or neuroids), in first-seen order."""
    subjects, regions = assembly["subject"].values.astype(str), assembly["region"].values.astype(str)
    keys = dict.fromkeys(zip(subjects.tolist(), regions.tolist(), strict=True))
    return {(s, r): (subjects == s) & (regions == r) for s, r in keys}


def group_labels(groups: dict[tuple[str, str], np.ndarray], dim: str) -> dict[str, tuple[str, list[str]]]:
    """``subject`` and ``region`` coords along ``dim`` for the groups of :func:`subject_groups` (one unit each)."""
    return {"subject": (dim, [s for s, _ in groups]), "region": (dim, [r for _, r in groups])}


def mean_per_subject(assembly: xr.DataArray) -> xr.DataArray:
    """One RDM per subject (and region): the mean of its entries, e.g. over sessions."""
    import xarray as xr

    groups = subject_groups(assembly)
    coords = {k: v for k, v in assembly.coords.items() if "rdm" not in v.dims} | group_labels(groups, "rdm")
    means = np.stack([assembly.values[mask].mean(0) for mask in groups.values()])
    return xr.DataArray(means, dims=RDM_DIMS, coords=coords, attrs=assembly.attrs)


def dissimilarity(X, distance: str = "correlation", *, device: str | None = None) -> np.ndarray:
    """The ``(n, n)`` RDM of the rows of ``X`` (n, p) under ``distance`` (see the module docstring), in float64.

    ``X`` may be float32 of any width: the Gram matrix is accumulated over chunks of features."""
    import torch

    from ..device import pick_device

    if distance not in DISTANCES:
        raise AssemblyError(f"RDM distance {distance!r} is not one of {', '.join(DISTANCES)}")
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


def validate_rdms(assembly: xr.DataArray) -> xr.DataArray:
    """Square, symmetric, finite, zero diagonal; stimulus ids unique and the same on both axes."""
    values = assembly.values
    ids = assembly["stimulus_id"].values
    if values.shape[1] != values.shape[2]:
        raise AssemblyError(f"RDMs must be square; got {values.shape[1]} x {values.shape[2]}")
    if len(set(ids.tolist())) != len(ids):
        from collections import Counter

        repeated = sorted(str(s) for s, count in Counter(ids.tolist()).items() if count > 1)
        raise AssemblyError(f"RDM stimulus ids must be unique; {len(repeated)} repeat, e.g. {repeated[:5]}: a stimulus "
                            "has one row and one column of an RDM")
    if list(ids) != list(assembly["stimulus_id_b"].values):
        raise AssemblyError("RDM stimulus ids must be identical, in the same order, on both stimulus axes")
    if not np.isfinite(values).all():
        bad = sorted(set(assembly["subject"].values[~np.isfinite(values).all(axis=(1, 2))].astype(str).tolist()))
        raise AssemblyError(f"RDMs of subjects {bad} contain NaN or infinite dissimilarities")
    if not np.allclose(values, values.transpose(0, 2, 1), atol=1e-6):
        raise AssemblyError("RDMs must be symmetric (dissimilarity of a to b equals b to a)")
    if np.abs(np.diagonal(values, axis1=1, axis2=2)).max(initial=0) > 1e-6:
        raise AssemblyError("RDMs must have a zero diagonal (each stimulus is identical to itself)")
    return assembly


def upper_triangle(rdms: np.ndarray) -> np.ndarray:
    """The strict upper triangles of ``(..., n, n)`` matrices as ``(..., n(n-1)/2)`` vectors (row-major, as pdist)."""
    n = rdms.shape[-1]
    rows, cols = np.triu_indices(n, k=1)
    return rdms[..., rows, cols]


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def compare(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> np.ndarray:
    """Similarity of matching vectors along the last axis (broadcast) under ``method`` (module docstring);
    Spearman and rho-a use average ranks, as ``scipy.stats.spearmanr`` and rsatoolbox."""
    if method not in COMPARISONS:
        raise AssemblyError(f"RDM comparison {method!r} is not one of {', '.join(COMPARISONS)}")
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    if method == "tau_a":
        flat = [_tau_a(x, y) for x, y in zip(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]), strict=True)]
        return np.asarray(flat).reshape(a.shape[:-1])
    if method in ("spearman", "rho_a"):
        a, b = _ranks(a), _ranks(b)
    if method != "cosine":
        a = a - a.mean(-1, keepdims=True)
        b = b - b.mean(-1, keepdims=True)
    if method == "rho_a":
        m = a.shape[-1]
        return 12 * (a * b).sum(-1) / (m**3 - m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def compare_weighted(a: np.ndarray, b: np.ndarray, weights: np.ndarray, method: str = "spearman") -> np.ndarray:
    """:func:`compare` of the rows of ``a`` and ``b`` ((m,) or (u, m), broadcast against each other) with entry k
    counted ``weights[r, k]`` times, for each row r of ``weights`` (B, m) -> (B, u), or (B,) for two vectors: a
    bootstrap's resampled RDM entries without expanding them. Ranks are the weighted average ranks (an entry's run
    of equal values spans the total weight before it + 1 .. + its own weight), moments are weighted; each row is
    ranked and centred once (one model RDM against u brain RDMs: once); ``tau_a`` expands the entries (integer
    weights)."""
    if method not in COMPARISONS:
        raise AssemblyError(f"RDM comparison {method!r} is not one of {', '.join(COMPARISONS)}")
    a2, b2 = (np.atleast_2d(np.asarray(v, dtype=np.float64)) for v in (a, b))
    w = np.asarray(weights, dtype=np.float64)
    units = range(max(len(a2), len(b2)))
    if method == "tau_a":
        counts = w.astype(np.int64)
        out = np.array([[_tau_a(np.repeat(a2[min(u, len(a2) - 1)], c), np.repeat(b2[min(u, len(b2) - 1)], c))
                         for u in units] for c in counts]).reshape(len(w), len(units))
    else:
        total = w.sum(1, keepdims=True)
        pa, pb = ([_weighted_transform(row, w, total, method) for row in v] for v in (a2, b2))
        out = np.empty((len(w), len(units)))
        for u in units:
            x, y = pa[min(u, len(pa) - 1)], pb[min(u, len(pb) - 1)]
            cross = (w * x * y).sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, u] = (12 * cross / (total[:, 0] ** 3 - total[:, 0]) if method == "rho_a" else
                             cross / np.sqrt((w * x * x).sum(1) * (w * y * y).sum(1)))
    return out[:, 0] if np.ndim(a) == np.ndim(b) == 1 else out


def _weighted_transform(v: np.ndarray, w: np.ndarray, total: np.ndarray, method: str) -> np.ndarray:
    """``v`` (m,) as ``method`` compares it under weights ``w`` (B, m): ranked (rank comparisons), centred on its
    weighted mean (pearson, spearman) or on the mean rank (total + 1) / 2 (rho_a) -> (B, m)."""
    x = _weighted_ranks(v, w) if method in ("spearman", "rho_a") else np.broadcast_to(v, w.shape)
    if method == "rho_a":
        return x - (total + 1) / 2
    if method == "cosine":
        return x
    return x - (w * x).sum(1, keepdims=True) / total


def _weighted_ranks(v: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average ranks of ``v`` (m,) in the multiset holding entry k ``weights[r, k]`` times, per row r -> (B, m)."""
    order = np.argsort(v, kind="stable")
    new_run = np.r_[True, np.diff(v[order]) != 0]  # sorted positions that start a run of ties
    starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1  # run of each sorted position
    sorted_w = weights[:, order]
    run_weight = np.add.reduceat(sorted_w, starts, axis=1)  # (B, runs)
    before = np.cumsum(run_weight, axis=1) - run_weight
    ranks = np.empty_like(sorted_w)
    ranks[:, order] = (before + (run_weight + 1) / 2)[:, run]
    return ranks


def _tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a from scipy's tau-b (O(m log m)): (C - D) = tau_b sqrt((n0 - tx)(n0 - ty)), tau_a = (C - D) / n0."""
    from scipy.stats import kendalltau

    m = len(x)
    n0 = m * (m - 1) / 2
    tx, ty = (_tied_pairs(v) for v in (x, y))
    if tx == n0 or ty == n0:  # a constant vector
        return float("nan")
    return float(kendalltau(x, y).statistic * np.sqrt((n0 - tx) * (n0 - ty)) / n0)


def _tied_pairs(v: np.ndarray) -> float:
    counts = np.unique(v, return_counts=True)[1].astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def subject_ceilings(rdms: np.ndarray, method: str = "spearman") -> tuple[np.ndarray, np.ndarray]:
    """Per-subject (lower_s, upper_s) over subject RDMs ``(subject, n, n)``; see the module docstring."""
    if len(rdms) < 2:
        raise AssemblyError(f"an RDM noise ceiling needs at least 2 subjects; got {len(rdms)}")
    v = upper_triangle(np.asarray(rdms, dtype=np.float64))
    if method in ("spearman", "rho_a", "tau_a"):  # Nili et al. rank-transform each RDM before averaging
        v = _ranks(v)
    total = v.sum(0)
    upper = compare(v, total[None] / len(v), method)
    lower = compare(v, (total[None] - v) / (len(v) - 1), method)
    return lower, upper


def noise_ceiling(rdms: np.ndarray, method: str = "spearman") -> tuple[float, float]:
    """(lower, upper) bound over subject RDMs ``(subject, n, n)``: the means of :func:`subject_ceilings`."""
    lower, upper = subject_ceilings(rdms, method)
    return float(lower.mean()), float(upper.mean())
