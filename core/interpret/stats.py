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
from typing import Any

import numpy as np

from ..checks import check_count, check_seed
from ..errors import ConfigError

__all__ = ["GroupComparison", "PairComparison", "RecordComparison", "compare_groups", "compare_pair", "compare_records",
           "plot_distributions"]


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


@dataclass(frozen=True)
class RecordComparison:
    """Stored II results compared on ``value`` ("ii" or "normalised"): per group (``labels``) its per-unit
    ``values`` and their description (n, mean, sd, median, quartiles), every pair's :class:`PairComparison`
    (``pairs[(i, j)]``, group i minus group j) and, for three or more groups, the one-way ANOVA."""

    labels: list[str]
    value: str
    values: list[np.ndarray]
    pairs: dict[tuple[int, int], PairComparison]
    anova: GroupComparison | None

    def describe(self) -> list[dict[str, float | int | str]]:
        out: list[dict[str, float | int | str]] = []
        for label, v in zip(self.labels, self.values, strict=True):
            q1, median, q3 = np.percentile(v, [25, 50, 75])
            out.append({"group": label, "n": int(v.size), "mean": float(v.mean()), "sd": float(v.std(ddof=1)),
                        "median": float(median), "q1": float(q1), "q3": float(q3)})
        return out


def compare_records(records: Sequence[Any], *, value: str = "ii", labels: Sequence[str] | None = None,
                    n_permutations: int = 10_000, seed: int = 0) -> RecordComparison:
    """Compare the per-unit values of two or more stored II results
    (:class:`~brainbench.results.interpretability.InterpretabilityRecord`): every pair by :func:`compare_pair`
    (Welch's t, permutation p, Cohen's d) and, for three or more, :func:`compare_groups` (ANOVA, eta squared).

    ``value="ii"`` compares raw II, which is only comparable under one image distance, one k and one image size:
    records that differ in any of them are a ConfigError naming the difference (compare ``value="normalised"``,
    each unit's II in sds of its own random-set baseline, instead). Also ConfigError: fewer than 2 records, an
    unknown ``value``, labels of the wrong length."""
    if value not in ("ii", "normalised"):
        raise ConfigError(f"value {value!r} is not 'ii' or 'normalised'")
    if len(records) < 2:
        raise ConfigError(f"a comparison needs 2 or more II results; got {len(records)}")
    names = list(labels) if labels is not None else [r.label() for r in records]
    if len(names) != len(records):
        raise ConfigError(f"{len(names)} labels for {len(records)} results")
    if value == "ii":
        for field in ("distance", "distance_version", "k", "image_size"):
            seen = {getattr(r.provenance, field) for r in records}
            if len(seen) > 1:
                raise ConfigError(f"these II results differ in {field} ({', '.join(map(str, sorted(seen, key=str)))}), "
                                  "so their raw II values are on different scales; measure them alike, or compare the "
                                  "normalised index (value='normalised', --normalised)")
    values = [np.asarray(getattr(r, value), dtype=np.float64) for r in records]
    pairs = {(i, j): compare_pair(values[i], values[j], n_permutations=n_permutations, seed=seed)
             for i in range(len(values)) for j in range(i + 1, len(values))}
    anova = compare_groups(*values) if len(values) > 2 else None
    return RecordComparison(labels=names, value=value, values=values, pairs=pairs, anova=anova)


def plot_distributions(comparison: RecordComparison, path: str | None = None) -> Any:
    """The per-unit distributions of a :class:`RecordComparison` as violins with each unit's value (seeded jitter)
    and the group means; returns the matplotlib figure and, given ``path`` (.png or .svg), writes it there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(comparison.values), 4))
    positions = np.arange(1, len(comparison.values) + 1)
    ax.violinplot(comparison.values, positions=positions, showextrema=False)
    rng = np.random.default_rng(0)
    for x, v in zip(positions, comparison.values, strict=True):
        ax.scatter(x + rng.uniform(-0.08, 0.08, v.size), v, s=8, color="black", alpha=0.5, zorder=3)
        ax.hlines(v.mean(), x - 0.25, x + 0.25, color="tab:red", zorder=4)
    ax.set_xticks(positions, comparison.labels, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("II (1 - mean distance)" if comparison.value == "ii" else "II, baseline sds")
    ax.set_title("per-unit interpretability index", fontsize=10)
    fig.tight_layout()
    if path is not None:
        from ..results.plots import save_figure

        save_figure(fig, path)
    return fig
