"""``brainbench plot``: figures from the results store, written as PNG or SVG (by the output's suffix).

- ``plot depth -m MODEL -b BENCHMARK -o FILE``: score against relative layer depth, one panel per region, one line
  per stored result (:func:`brainbench.results.plots.plot_depth`);
- ``plot board NAME -o FILE``: a leaderboard's models as bars with intervals, of its root aggregate, a node or one
  benchmark (``--column``) (:func:`~brainbench.results.plots.plot_board`);
- ``plot scatter NAME MODEL_A MODEL_B -o FILE``: one model against another across the leaderboard's benchmarks
  (:func:`~brainbench.results.plots.plot_scatter`);
- ``plot warp FILE... -o FILE``: d curves of ``brainbench warp --json`` files side by side, sweeps run as separate
  jobs (:func:`brainbench.tuning.warp.plot_warps`).
"""

from __future__ import annotations

from typing import Any

import click

from .output import console, file_to_write, handle_errors

__all__ = ["plot"]

_FORMATS = {"png": "Portable Network Graphics", "svg": "Scalable Vector Graphics"}


def _output(function: Any) -> Any:
    return click.option("-o", "--output", required=True, help="the figure to write: a .png or .svg file")(function)


def _write(fig: Any, output: str) -> None:
    import matplotlib.pyplot as plt

    from ..results.plots import save_figure

    try:
        path = save_figure(fig, output)
    finally:
        plt.close(fig)
    console(stderr=True).print(f"plot: {path}", highlight=False)


@click.group()
def plot() -> None:
    """Figures from stored results: `depth` (score by layer depth), `board` (a leaderboard's bars), `scatter`
    (model against model); and `warp` (d curves from `brainbench warp --json` files)."""


@plot.command("depth")
@click.option("--model", "-m", "models", multiple=True, required=True, help="model pattern (repeatable)")
@click.option("--benchmark", "-b", "benchmarks", multiple=True, required=True, help="benchmark pattern (repeatable)")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="the held-out score per layer, or the training-split score that chose the layer")
@click.option("--db", default=None, help="results database URL")
@_output
@handle_errors
def depth(models: tuple[str, ...], benchmarks: tuple[str, ...], split: str, db: str | None, output: str) -> None:
    """Score against relative layer depth (layer index / (layers - 1)), a panel per region, a line per newest stored
    result of each matching model on each matching benchmark."""
    from ..errors import ConfigError
    from ..results.plots import plot_depth
    from ..results.store import ResultsStore

    file_to_write(output, "--output", _FORMATS)
    store = ResultsStore(db)
    rows = store.rows(model=list(models), benchmark=list(benchmarks))
    if not rows:
        raise ConfigError(f"no stored results of models {', '.join(models)} on benchmarks {', '.join(benchmarks)}; "
                          "see what is stored with `brainbench results`")
    _write(plot_depth([store.get(r["id"]) for r in rows], split=split), output)


def _board(name: str, value: str, db: str | None) -> Any:
    from ..registry.catalog import get_leaderboard
    from ..results.board import build_board
    from ..results.store import ResultsStore

    from ..scoring.regenerate import labelled_spec

    return build_board(labelled_spec(get_leaderboard(name)), ResultsStore(db), value=value)


_value = click.option("--value", type=click.Choice(["auto", "normalised", "raw"]), default="auto", show_default=True)


@plot.command("board")
@click.argument("name")
@click.option("--column", default=None, help="a node of the aggregation tree or a benchmark (default: the root)")
@_value
@click.option("--db", default=None, help="results database URL")
@_output
@handle_errors
def board(name: str, column: str | None, value: str, db: str | None, output: str) -> None:
    """Leaderboard NAME as bars (best on top) with the stored intervals; failed and missing cells are written, not
    drawn as zero."""
    from ..results.plots import plot_board

    file_to_write(output, "--output", _FORMATS)
    _write(plot_board(_board(name, value, db), column), output)


@plot.command("scatter")
@click.argument("name")
@click.argument("model_a")
@click.argument("model_b")
@_value
@click.option("--db", default=None, help="results database URL")
@_output
@handle_errors
def scatter(name: str, model_a: str, model_b: str, value: str, db: str | None, output: str) -> None:
    """MODEL_A (x) against MODEL_B (y) on each benchmark of leaderboard NAME both have a score on, with the identity
    line."""
    from ..results.plots import plot_scatter

    file_to_write(output, "--output", _FORMATS)
    _write(plot_scatter(_board(name, value, db), model_a, model_b), output)


@plot.command("warp")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_output
@handle_errors
def warp_curves(files: tuple[str, ...], output: str) -> None:
    """The d curves of the `brainbench warp --json` FILES in one figure (each model's held-out score against d, its
    threshold and d_warp), e.g. sweeps of several models run as separate jobs. Every sweep must be on one benchmark
    under one threshold rule; a model given twice is refused."""
    from ..errors import ConfigError
    from ..tuning.warp import load_warps, plot_warps

    file_to_write(output, "--output", _FORMATS)
    results = [result for path in files for result in load_warps(path)]
    benchmarks = sorted({r.benchmark for r in results})
    if len(benchmarks) > 1:
        raise ConfigError(f"the sweeps are on different benchmarks ({', '.join(benchmarks)}); d curves compare "
                          "networks on one benchmark: plot each benchmark's files apart")
    # an absolute rule has no reference score, so its ``reference`` field does not tell rules apart
    rules = {f"{r.rule.kind} {r.rule.value:g}" + (f" x {r.rule.reference}" if r.rule.kind == "relative" else "")
             for r in results}
    if len(rules) > 1:
        raise ConfigError(f"the sweeps use different threshold rules ({'; '.join(sorted(rules))}): their d_warps are "
                          "not comparable; rerun them under one --rule and --threshold")
    seen: set[tuple[str, str]] = set()
    for r in results:
        if (r.model, r.layer) in seen:
            raise ConfigError(f"{r.model} ({r.layer}) is in the files twice; give each sweep once")
        seen.add((r.model, r.layer))
    _write(plot_warps(results), output)
    for r in results:
        click.echo(r.summary())
