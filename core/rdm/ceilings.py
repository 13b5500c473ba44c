"""RDM noise ceilings: how well the best model could match subjects' RDMs.

Noise ceiling across subjects (Nili et al. 2014), for a comparison ``c`` (Spearman by default),
with subject RDMs D_1..D_S:
  upper_s = c(D_s, mean_t D_t)          (no model can beat the subjects' own mean)
  lower_s = c(D_s, mean_{t != s} D_t)   (leave-one-subject-out: what a perfect model reaches at least)
and the bounds are their means over subjects. For rank comparisons the RDMs are rank-transformed before
averaging; for tau_a that mean is not the best-scoring RDM (Nili et al. search for it), so its upper bound
is an underestimate.

"""

from __future__ import annotations

import numpy as np

from ..errors import AssemblyError
from .comparisons import _ranks, check_comparison, compare
from .rdms import upper_triangle

__all__ = ["noise_ceiling", "subject_ceilings"]


def subject_ceilings(rdms: np.ndarray, method: str = "spearman") -> tuple[np.ndarray, np.ndarray]:
    """Per-subject (lower_s, upper_s) over subject RDMs ``(subject, n, n)``; see the module docstring."""
    check_comparison(method)
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
