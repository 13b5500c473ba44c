"""Leaderboards regenerated from stored results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .catalog import get_leaderboard
from .names import matches

if TYPE_CHECKING:
    import pandas as pd

    from .store import ResultsStore

__all__ = ["leaderboard"]


def leaderboard(name: str = "synthetic", store: ResultsStore | None = None, *, value: str = "auto") -> pd.DataFrame:
    """Models x benchmarks table of the newest stored scores, sorted by the mean over benchmarks.

    ``value`` is ``normalised`` (ceiling-normalised), ``raw``, or ``auto`` (normalised where a
    ceiling exists, else raw). Cells never scored are NaN and the mean is over scored cells;
    the ``n`` column says how many benchmarks each mean covers.
    """
    import pandas as pd

    from .checks import check_choice
    from .store import ResultsStore

    check_choice(value, "leaderboard value", ("auto", "normalised", "raw"))
    spec = get_leaderboard(name)
    store = store or ResultsStore()
    rows = [r for r in store.rows(model=spec.models) if matches(r["benchmark"], spec.benchmarks)]
    if not rows:
        return pd.DataFrame(columns=["mean", "n"], dtype=float).rename_axis("model")
    table = pd.DataFrame(rows)
    if value == "auto":
        table["value"] = table["normalised"].where(table["normalised"].notna(), table["raw"])
    else:
        table["value"] = table[value]
    wide = table.pivot_table(index="model", columns="benchmark", values="value", aggfunc="last")
    wide = wide[sorted(wide.columns)]
    wide["mean"] = wide.mean(axis=1)
    wide["n"] = wide.drop(columns="mean").notna().sum(axis=1)
    return wide.sort_values("mean", ascending=False)
