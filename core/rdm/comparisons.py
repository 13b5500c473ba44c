"""RDM comparisons: how similar two RDMs are, over their upper triangles.

Comparisons of two RDMs' upper triangles a, b (m entries): ``pearson``; ``spearman`` (Pearson of average
ranks); ``cosine`` (<a, b> / |a||b|, no centring); ``rho_a`` (12 <ra - mean, rb - mean> / (m^3 - m) of
average ranks: Spearman without tie correction); ``tau_a`` (Kendall's (concordant - discordant) / (m(m-1)/2),
which penalises a model's tied predictions; Nili et al. 2014). A comparison with a constant vector is NaN.

:func:`check_comparison` is the one check of a comparison's name: :func:`compare`, :func:`compare_weighted`,
the noise ceilings and the RSA metrics call it.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_choice

__all__ = ["COMPARISONS", "check_comparison", "compare", "compare_weighted"]

COMPARISONS = ("spearman", "pearson", "cosine", "rho_a", "tau_a")


def check_comparison(method: object, what: str = "RDM comparison") -> str:
    """``method`` if it is one of :data:`COMPARISONS`; else :class:`~brainbench.errors.ConfigError` naming ``what``
    was given, the known comparisons and close matches."""
    return check_choice(method, what, COMPARISONS)


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def compare(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> np.ndarray:
    """Similarity of matching vectors along the last axis (broadcast) under ``method`` (module docstring);
    Spearman and rho-a use average ranks, as ``scipy.stats.spearmanr`` and rsatoolbox."""
    check_comparison(method)
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
    check_comparison(method)
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
