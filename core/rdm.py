"""RDM targets: brain data that exists only as representational dissimilarity matrices.

An RDM assembly is a DataArray with dims ``(rdm, stimulus, stimulus_b)``: one symmetric matrix per
``rdm`` entry, which carries ``subject`` and ``region`` (and e.g. ``session``) coords; ``stimulus``
and ``stimulus_b`` both carry the ``stimulus_id`` (as ``stimulus_id`` and ``stimulus_id_b``).
RSA-type metrics compare a model's RDM with each entry over the upper triangle.

RDMs of responses X (stimulus x feature), row i = x_i:
  correlation   d_ij = 1 - pearson(x_i, x_j)
  cosine        d_ij = 1 - <x_i, x_j> / (|x_i| |x_j|)
  euclidean     d_ij = |x_i - x_j|;   sqeuclidean  d_ij = |x_i - x_j|^2
computed from the n x n Gram matrix (memory n^2, never n^2 p). A stimulus whose responses are constant
(correlation) or zero (cosine) has no direction: its dissimilarity to every other stimulus is 1.

Noise ceiling across subjects (Nili et al. 2014), for a comparison ``c`` (Spearman by default),
with subject RDMs D_1..D_S:
  upper_s = c(D_s, mean_t D_t)          (no model can beat the subjects' own mean)
  lower_s = c(D_s, mean_{t != s} D_t)   (leave-one-subject-out: what a perfect model reaches at least)
and the bounds are their means over subjects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import AssemblyError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DISTANCES", "RDM_DIMS", "compare", "dissimilarity", "is_rdm_assembly", "mean_per_subject", "noise_ceiling",
           "rdm_assembly", "rdms_of_responses", "subject_ceilings", "subject_groups", "upper_triangle", "validate_rdms"]

RDM_DIMS = ("rdm", "stimulus", "stimulus_b")
COMPARISONS = ("spearman", "pearson")
DISTANCES = ("correlation", "cosine", "euclidean", "sqeuclidean")


def rdm_assembly(rdms: np.ndarray, *, stimulus_id: Sequence[str], subject: Sequence[str], region: Sequence[str] | str,
                 rdm_coords: dict[str, Sequence[object]] | None = None, attrs: dict | None = None) -> xr.DataArray:
    """A validated RDM assembly from an ``(rdm, stimulus, stimulus)`` array (or one condensed vector per RDM)."""
    import xarray as xr
    from scipy.spatial.distance import squareform

    rdms = np.asarray(rdms, dtype=np.float64)
    if rdms.ndim == 2:  # condensed upper triangles
        rdms = np.stack([squareform(r, checks=False) for r in rdms])
    n = len(rdms)
    regions = [region] * n if isinstance(region, str) else list(region)
    ids = [str(s) for s in stimulus_id]
    coords = {"subject": ("rdm", [str(s) for s in subject]), "region": ("rdm", regions),
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


def mean_per_subject(assembly: xr.DataArray) -> xr.DataArray:
    """One RDM per subject (and region): the mean of its entries, e.g. over sessions."""
    import xarray as xr

    groups = subject_groups(assembly)
    coords = {k: v for k, v in assembly.coords.items() if "rdm" not in v.dims}
    coords.update(subject=("rdm", [s for s, _ in groups]), region=("rdm", [r for _, r in groups]))
    means = np.stack([assembly.values[mask].mean(0) for mask in groups.values()])
    return xr.DataArray(means, dims=RDM_DIMS, coords=coords, attrs=assembly.attrs)


def dissimilarity(X, distance: str = "correlation", *, device: str | None = None) -> np.ndarray:
    """The ``(n, n)`` RDM of the rows of ``X`` (n, p) under ``distance`` (see the module docstring), in float64."""
    import torch

    from .device import pick_device

    if distance not in DISTANCES:
        raise AssemblyError(f"RDM distance {distance!r} is not one of {', '.join(DISTANCES)}")
    X = torch.from_numpy(np.array(X, dtype=np.float64)).to(pick_device(device)).reshape(len(X), -1)
    if distance == "correlation":
        X = X - X.mean(1, keepdim=True)
    elif distance != "cosine":  # euclidean distances do not change; centring avoids cancellation in the Gram form
        X = X - X.mean(0)
    gram = X @ X.T
    sq = torch.diagonal(gram)
    if distance in ("correlation", "cosine"):
        constant = sq <= torch.finfo(gram.dtype).eps * sq.max()
        norm = torch.where(constant, torch.inf, sq.sqrt())  # a constant row correlates 0 with every other
        d = 1 - gram / norm[:, None] / norm[None, :]
    else:
        d = (sq[:, None] + sq[None, :] - 2 * gram).clamp_min(0)
        if distance == "euclidean":
            d = d.sqrt()
    d = (d + d.T) / 2
    d.fill_diagonal_(0)
    return d.cpu().numpy()


def rdms_of_responses(assembly: xr.DataArray, distance: str = "correlation") -> xr.DataArray:
    """One RDM per subject (and region) of a repeat-averaged neural assembly, over its neuroids."""
    groups = subject_groups(assembly)
    values = np.asarray(assembly.values)
    rdms = [dissimilarity(values[:, mask], distance) for mask in groups.values()]
    return rdm_assembly(np.stack(rdms), stimulus_id=assembly["stimulus_id"].values, subject=[s for s, _ in groups],
                        region=[r for _, r in groups], attrs={"distance": distance})


def validate_rdms(assembly: xr.DataArray) -> xr.DataArray:
    """Square, symmetric, finite, zero diagonal; stimulus ids unique and the same on both axes."""
    values = assembly.values
    ids = assembly["stimulus_id"].values
    if values.shape[1] != values.shape[2]:
        raise AssemblyError(f"RDMs must be square; got {values.shape[1]} x {values.shape[2]}")
    if len(set(ids)) != len(ids) or list(ids) != list(assembly["stimulus_id_b"].values):
        raise AssemblyError("RDM stimulus ids must be unique and identical on both stimulus axes")
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
    """Correlation of matching vectors along the last axis (broadcast): Pearson, or Spearman (Pearson of
    average ranks, as ``scipy.stats.spearmanr``)."""
    if method not in COMPARISONS:
        raise AssemblyError(f"RDM comparison {method!r} is not one of {', '.join(COMPARISONS)}")
    if method == "spearman":
        a, b = _ranks(a), _ranks(b)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def subject_ceilings(rdms: np.ndarray, method: str = "spearman") -> tuple[np.ndarray, np.ndarray]:
    """Per-subject (lower_s, upper_s) over subject RDMs ``(subject, n, n)``; see the module docstring."""
    if len(rdms) < 2:
        raise AssemblyError(f"an RDM noise ceiling needs at least 2 subjects; got {len(rdms)}")
    v = upper_triangle(np.asarray(rdms, dtype=np.float64))
    if method == "spearman":  # Nili et al. rank-transform each RDM before averaging
        v = _ranks(v)
    total = v.sum(0)
    upper = compare(v, total[None] / len(v), method)
    lower = compare(v, (total[None] - v) / (len(v) - 1), method)
    return lower, upper


def noise_ceiling(rdms: np.ndarray, method: str = "spearman") -> tuple[float, float]:
    """(lower, upper) bound over subject RDMs ``(subject, n, n)``: the means of :func:`subject_ceilings`."""
    lower, upper = subject_ceilings(rdms, method)
    return float(lower.mean()), float(upper.mean())
