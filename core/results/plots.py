"""Plots a researcher would rather look at than read: layer curves and leaderboards.

The figure functions (:func:`plot_depth`, :func:`plot_board`, :func:`plot_scatter`) return a matplotlib Figure
(Agg backend) for a notebook to show or :func:`save_figure` to write as PNG or SVG (``brainbench plot ...``);
:func:`plot_layers` and :func:`plot_leaderboard` write a file and return its path, as they always did.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .board import Board
    from .result import ScoreResult

__all__ = ["depth_of", "plot_board", "plot_depth", "plot_layers", "plot_leaderboard", "plot_scatter", "region_of",
           "save_figure"]


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


def _label(text: str) -> str:
    """A user string as matplotlib text, shown as written (a ``$`` would otherwise start mathtext)."""
    return text.replace("$", r"\$")


def region_of(benchmark: str) -> str:
    """The brain region a benchmark scores: its registry entry's ``region`` (several joined by ``+``), or, for a
    benchmark not registered here, the ``<region>`` of its id ``<dataset>.<region>[-<metric>]``."""
    from ..errors import BrainbenchError
    from ..names import parse_benchmark_id
    from ..registry.catalog import get_benchmark

    try:
        region = get_benchmark(benchmark).region
    except (BrainbenchError, ValueError):
        try:
            return parse_benchmark_id(benchmark).name
        except ValueError:
            return benchmark
    return region if isinstance(region, str) else "+".join(region)


def depth_of(result: ScoreResult, layer_order: Sequence[str] | None = None) -> dict[str, float]:
    """Relative depth of each scored layer of ``result``: its index in ``layer_order`` (the model's layers in order;
    default: the order the result scored them in, which is the model's) divided by ``len(layer_order) - 1``, so the
    first layer is 0 and the last 1 (a single layer: 0). Layer combinations (``a+b``, scored as one candidate) have
    no single depth and are left out. A ConfigError names a scored layer ``layer_order`` lacks."""
    from ..errors import ConfigError

    scored = [name for name in result.layers if "+" not in name]
    order = list(layer_order) if layer_order is not None else scored
    lacking = [name for name in scored if name not in order]
    if lacking:
        raise ConfigError(f"layers {lacking} of {result.model} on {result.benchmark} are not in the layer order given "
                          f"({', '.join(order[:8])}{', ...' if len(order) > 8 else ''}); pass the model's own layers")
    span = max(len(order) - 1, 1)
    return {name: order.index(name) / span for name in scored}


def plot_depth(results: Sequence[ScoreResult], *, layer_order: Mapping[str, Sequence[str]] | None = None,
               split: str = "test") -> Any:
    """Score against relative layer depth (:func:`depth_of`), one panel per brain region (:func:`region_of`; regions
    in order of first appearance), one line per result (labelled by its model, and by its benchmark where a panel
    holds several), the chosen layer circled: the first figure of the DeepJuice tutorial, for one or many models.

    ``split``: ``test`` (held-out score per layer) or ``train`` (the training-split score that chose the layer);
    ``layer_order``: model label -> its layers in order (default: each result's own order). Returns the Figure.
    A ConfigError for no results or another split."""
    from ..checks import check_choice
    from ..errors import ConfigError

    check_choice(split, "depth plot split", ("test", "train"))
    if not results:
        raise ConfigError("no results to plot; score a model first (`brainbench score -m MODEL -b BENCHMARK`)")
    panels: dict[str, list[ScoreResult]] = {}
    for result in results:
        panels.setdefault(region_of(result.benchmark), []).append(result)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (region, members) in zip(axes[0], panels.items()):
        several = len({r.benchmark for r in members}) > 1
        for result in members:
            depth = depth_of(result, (layer_order or {}).get(result.model))
            names = sorted(depth, key=depth.__getitem__)
            label = f"{result.model} · {result.benchmark}" if several else result.model
            line, = ax.plot([depth[n] for n in names], [getattr(result.layers[n], split) for n in names], marker="o",
                            ms=3, label=_label(label))
            if result.layer in depth:
                ax.scatter([depth[result.layer]], [getattr(result.layers[result.layer], split)], s=90,
                           facecolors="none", edgecolors=line.get_color(), zorder=3)
        ax.set_title(_label(region))
        ax.set_xlabel("relative layer depth")
        ax.set_xlim(-0.03, 1.03)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"{'held-out' if split == 'test' else 'training-split'} score (circled: chosen layer)")
    fig.tight_layout()
    return fig


def _board_value(board: Board, model: str, column: str) -> tuple[float | None, float | None, float | None, str]:
    """(value, low, high, status text) of ``model`` in ``column`` (a node or a benchmark)."""
    from .board import VALUED

    if column in board.nodes:
        agg = board.aggregate(model, column)
        return agg.value, None, None, "ok" if agg.value is not None else "missing"
    cell = board.cell(model, column)
    if cell.status in VALUED and cell.value is not None:
        return cell.value, cell.low, cell.high, cell.status
    return None, None, None, cell.status


def _column(board: Board, column: str | None) -> str:
    from ..errors import ConfigError

    column = column or board.root
    if column not in board.nodes and column not in board.benchmarks:
        raise ConfigError(f"{column!r} is neither a node ({', '.join(board.nodes)}) nor a benchmark "
                          f"({', '.join(board.benchmarks) or 'none stored'}) of leaderboard {board.name!r}")
    return column


def plot_board(board: Board, column: str | None = None) -> Any:
    """The leaderboard as horizontal bars, one per model in the board's ranking (best on top), of ``column``: the
    root aggregate (default), another node, or one benchmark (its stored interval as an error bar where there is
    one). A model without a value there (failed, missing, untrusted, or an incomplete aggregate) gets no bar, only
    its status written at 0: never a bar of zero. Returns the Figure; a ConfigError for an unknown column."""
    from ..errors import ConfigError

    column = _column(board, column)
    if not board.models:
        raise ConfigError(f"leaderboard {board.name!r} has no stored results to plot yet")
    models = board.ranking()[::-1]  # barh draws bottom-up: the best on top
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(models) + 1.6))
    for y, model in enumerate(models):
        value, low, high, status = _board_value(board, model, column)
        if value is None:
            ax.text(0, y, f" {status}", va="center", color="tab:red" if status == "failed" else "0.4", style="italic")
            continue
        ax.barh([y], [value], color="tab:orange" if status == "stale" else "tab:blue")
        if low is not None and high is not None:
            ax.errorbar([value], [y], xerr=[[value - low], [high - value]], fmt="none", ecolor="k", capsize=3)
        ax.text(max(value, high or value), y, f" {value:.3f}" + (" (stale)" if status == "stale" else ""),
                va="center", fontsize=8)
    ax.set_yticks(range(len(models)), [_label(m) for m in models])
    ax.set_ylim(-0.6, len(models) - 0.4)
    ends = [v for m in models for v in _board_value(board, m, column)[:3] if v is not None]
    left, right = min([0.0, *ends]), max([0.0, *ends])
    ax.set_xlim(left - 0.02 * (right - left or 1), right + 0.18 * (right - left or 1))  # room for the value labels
    ax.axvline(0, color="k", lw=0.8)
    what = ", mean over its members)" if column in board.nodes else ")"
    ax.set_xlabel(_label(f"{column} ({board.value} scores{what}"))
    ax.set_title(_label(f"leaderboard {board.name}"))
    fig.tight_layout()
    return fig


def plot_scatter(board: Board, model_a: str, model_b: str) -> Any:
    """``model_a``'s score (x) against ``model_b``'s (y) on each benchmark of ``board`` where both have a value
    (``ok`` or ``stale``), each point labelled with its benchmark, and the identity line: points above it are
    benchmarks ``model_b`` wins. Returns the Figure; a ConfigError names the board's models for an unknown one, and
    says so when the two share no scored benchmark."""
    from ..errors import ConfigError
    from .board import VALUED

    for model in (model_a, model_b):
        if model not in board.models:
            raise ConfigError(f"model {model!r} has no cell on leaderboard {board.name!r}; its models: "
                              f"{', '.join(board.models) or 'none stored'}")
    points = []
    for benchmark in board.benchmarks:
        a, b = board.cell(model_a, benchmark), board.cell(model_b, benchmark)
        if a.status in VALUED and b.status in VALUED and a.value is not None and b.value is not None:
            points.append((benchmark, a.value, b.value))
    if not points:
        raise ConfigError(f"{model_a} and {model_b} have no benchmark of leaderboard {board.name!r} both scored; "
                          f"score them on the same benchmarks first")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    ax.scatter(xs, ys, color="tab:blue", zorder=3)
    for benchmark, x, y in points:
        ax.annotate(_label(benchmark), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    low, high = min(xs + ys + [0.0]), max(xs + ys)
    pad = 0.05 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", ls="--", lw=1, label="identity")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(_label(f"{model_a} ({board.value} score)"))
    ax.set_ylabel(_label(f"{model_b} ({board.value} score)"))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
