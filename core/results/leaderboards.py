"""Leaderboards regenerated from stored results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry.catalog import get_leaderboard
from ..names import matches

if TYPE_CHECKING:
    import pandas as pd

    from .store import ResultsStore

__all__ = ["leaderboard"]


def leaderboard(name: str = "synthetic", store: ResultsStore | None = None, *, value: str = "auto") -> pd.DataFrame:
    """Models x benchmarks table of the newest stored scores, sorted by the mean over benchmarks.

    ``value`` is ``normalised`` (ceiling-normalised), ``raw``, or ``auto`` (normalised where the benchmark
    has a ceiling, raw where it has none). Cells never scored are NaN and the mean is over scored cells;
    the ``n`` column says how many benchmarks each mean covers. A score whose ceiling was not trusted
    (:func:`brainbench.scoring.ceiling.why_untrusted`: a ceiling but no normalised score) is missing (NaN) under
    ``normalised`` and ``auto``, never replaced by its raw score, and ``table.attrs["missing"]`` says, per
    such cell, why.
    """
    import pandas as pd

    from ..checks import check_choice
    from .store import ResultsStore

    check_choice(value, "leaderboard value", ("auto", "normalised", "raw"))
    spec = get_leaderboard(name)
    store = store or ResultsStore()
    rows = [r for r in store.rows(model=spec.models) if matches(r["benchmark"], spec.benchmarks)]
    if not rows:
        return pd.DataFrame(columns=["mean", "n"], dtype=float).rename_axis("model")
    table = pd.DataFrame(rows)
    untrusted = table["ceiling"].notna() & table["normalised"].isna()
    if value == "auto":
        table["value"] = table["normalised"].where(table["ceiling"].notna(), table["raw"])
    else:
        table["value"] = table[value]
    wide = table.pivot_table(index="model", columns="benchmark", values="value", aggfunc="last", dropna=False)
    wide = wide[sorted(wide.columns)]
    wide["mean"] = wide.mean(axis=1)
    wide["n"] = wide.drop(columns="mean").notna().sum(axis=1)
    wide = wide.sort_values("mean", ascending=False)
    wide.attrs["missing"] = [] if value == "raw" else [
        f"{r.model} on {r.benchmark}: no normalised score, its ceiling ({r.ceiling:.3f}) is too unreliable to divide a "
        f"score (raw {r.raw:.3f}); `brainbench results --id {r.id}` says why" for r in table[untrusted].itertuples()]
    return wide
