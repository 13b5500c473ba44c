"""The RDM container: brain data that exists only as representational dissimilarity matrices.

An RDM assembly is a DataArray with dims ``(rdm, stimulus, stimulus_b)``: one symmetric matrix per
``rdm`` entry, which carries ``subject`` and ``region`` (and e.g. ``session``) coords; ``stimulus``
and ``stimulus_b`` both carry the ``stimulus_id`` (as ``stimulus_id`` and ``stimulus_id_b``).
RSA-type metrics compare a model's RDM with each entry over the upper triangle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AssemblyError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["RDM_DIMS", "group_labels", "is_rdm_assembly", "mean_per_subject", "rdm_assembly", "subject_groups",
           "upper_triangle", "validate_rdms"]

RDM_DIMS = ("rdm", "stimulus", "stimulus_b")


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
