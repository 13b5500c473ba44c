r"""Comparing per-unit interpretability indices of two or more models or layers.

What the neural-tuning study reports (Welch's t between two groups of units, a one-way ANOVA over several), plus
a permutation test and effect sizes, on the per-unit values themselves (no normality assumed by the permutation
test). The tests are scipy's (``scipy.stats.ttest_ind(equal_var=False)``, ``f_oneway``, ``permutation_test``);
the effect sizes:

- Cohen's :math:`d = (\bar a - \bar b) / s_p`, :math:`s_p^2 = ((n_a-1)s_a^2 + (n_b-1)s_b^2)/(n_a+n_b-2)`;
- :math:`\eta^2 = SS_{between} / SS_{total}` for the ANOVA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..checks import check_count, check_seed
from ..errors import ConfigError

__all__ = ["GroupComparison", "PairComparison", "compare_groups", "compare_pair"]


@dataclass(frozen=True)
class PairComparison:
    """Two groups of per-unit values: mean difference a - b, Welch's t (statistic, df, p), a two-sided permutation
    p of the mean difference, Cohen's d."""

    difference: float
    welch_t: float
    welch_df: float
    welch_p: float
    permutation_p: float
    n_permutations: int
    cohens_d: float


@dataclass(frozen=True)
class GroupComparison:
    """Several groups: one-way ANOVA F (statistic, p) and eta squared."""

    f: float
    p: float
    eta_squared: float


def _values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 2:
        raise ConfigError(f"{what} has {v.size} value(s); a comparison needs at least 2 units per group")
    if not np.isfinite(v).all():
        raise ConfigError(f"{what} holds non-finite values; drop the units whose II is undefined first")
    return v


def compare_pair(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, n_permutations: int = 10_000,
                 seed: int = 0) -> PairComparison:
    """Compare group ``a`` with group ``b`` (per-unit values). The permutation test exchanges units between the
    groups (``n_permutations`` random relabellings, seeded, or all of them when there are fewer; p counts the
    observed labelling; two-sided p is twice the smaller one-sided p, at most 1, as scipy's). Raises :class:`~brainbench.errors.ConfigError` for a group with fewer than
    2 values or with non-finite ones."""
    from scipy import stats

    a, b = _values(a, "group a"), _values(b, "group b")
    welch = stats.ttest_ind(a, b, equal_var=False)
    perm = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                  permutation_type="independent", vectorized=True, alternative="two-sided",
                                  n_resamples=check_count(n_permutations, "permutations"),
                                  random_state=np.random.default_rng(check_seed(seed)))
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    return PairComparison(difference=float(a.mean() - b.mean()), welch_t=float(welch.statistic),
                          welch_df=float(welch.df), welch_p=float(welch.pvalue), permutation_p=float(perm.pvalue),
                          n_permutations=n_permutations, cohens_d=float((a.mean() - b.mean()) / pooled))


def compare_groups(*groups: Sequence[float] | np.ndarray) -> GroupComparison:
    """One-way ANOVA over two or more groups of per-unit values, with eta squared."""
    from scipy import stats

    if len(groups) < 2:
        raise ConfigError(f"an ANOVA compares 2 or more groups; got {len(groups)}")
    values = [_values(g, f"group {n}") for n, g in enumerate(groups)]
    result = stats.f_oneway(*values)
    pooled = np.concatenate(values)
    between = sum(v.size * (v.mean() - pooled.mean()) ** 2 for v in values)
    total = ((pooled - pooled.mean()) ** 2).sum()
    return GroupComparison(f=float(result.statistic), p=float(result.pvalue), eta_squared=float(between / total))
