"""Plots a researcher would rather look at than read: layer curves and leaderboards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .result import ScoreResult

__all__ = ["plot_layers", "plot_leaderboard", "save_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as PNG (120 dpi) or SVG, by its suffix, atomically (a failed write leaves no file);
    a ConfigError (the figure closed) for any other suffix."""
    from ..data.files import atomic_path
    from ..errors import ConfigError

    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in ("png", "svg"):
        _pyplot().close(fig)
        raise ConfigError(f"plot path {str(path)!r} must end in .png or .svg")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, dpi=120)
    return Path(path)


def plot_layers(results: list[ScoreResult], path: str | Path) -> Path:
    """Train and held-out score per layer (x: relative depth 0-1), one line per result."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for result in results:
        names = list(result.layers)
        depth = [i / max(len(names) - 1, 1) for i in range(len(names))]
        label = f"{result.model} · {result.benchmark}"
        line, = ax.plot(depth, [result.layers[n].test for n in names], marker="o", label=f"{label} (test)")
        ax.plot(depth, [result.layers[n].train for n in names], ls="--", color=line.get_color(), alpha=0.6)
        chosen = names.index(result.layer)
        ax.scatter([depth[chosen]], [result.layers[result.layer].test], s=120, facecolors="none", edgecolors="k")
    ax.set_xlabel("relative layer depth (dashed: training-split score used to choose the layer, circled)")
    ax.set_ylabel("mean score over units (neuroids or subject RDMs)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_leaderboard(table: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """Horizontal bars of each model's mean score, best on top."""
    plt = _pyplot()
    data = table["mean"].dropna().iloc[::-1]  # a model with no score to show (e.g. every ceiling untrusted) has no bar
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(data) + 1.5))
    ax.barh(list(data.index), list(data.values), color="tab:blue")
    for y, v in enumerate(data.values):
        ax.text(v, y, f" {v:.3f}", va="center")
    ax.set_xlabel("mean score over benchmarks (ceiling-normalised where a ceiling exists)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
