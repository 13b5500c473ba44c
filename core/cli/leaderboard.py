"""``brainbench leaderboard``: show a leaderboard of registry.toml from the results store
(``brainbench leaderboard show NAME``, or just ``brainbench leaderboard NAME``)."""

from __future__ import annotations


import click

from ..errors import BrainbenchError
from ..results.report import FORMATS
from .output import console, file_to_write, handle_errors, plot_formats, rich_table

__all__ = ["leaderboard"]


class _DefaultShow(click.Group):
    """A group whose first argument, when it is not one of its subcommands, is the leaderboard to ``show``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultShow)
def leaderboard() -> None:
    """Leaderboards of registry.toml: `show NAME` (the default: `brainbench leaderboard NAME`)."""


@leaderboard.command("show")
@click.argument("name", default="synthetic")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table (printed), markdown, csv (one row per model and node or benchmark), json, or html (one "
                   "self-contained page: sortable, raw and normalised, each cell linked to its provenance)")
@click.option("-o", "--output", default=None, help="write the report to this file (atomically) instead of printing it")
@click.option("--value", type=click.Choice(["auto", "normalised", "raw"]), default="auto", show_default=True)
@click.option("--db", default=None, help="results database URL")
@click.option("--plot", "plot_path", default=None, help="also write the board as bars with intervals (PNG, SVG, ...)")
@click.option("--json", "as_json", is_flag=True,
              help="one JSON record per model (benchmarks, mean, n), as before --format; --format json says more")
@handle_errors
def show(name: str, fmt: str, output: str | None, value: str, db: str | None, plot_path: str | None,
         as_json: bool) -> None:
    """Show leaderboard NAME (from registry.toml) from the stored results (`brainbench leaderboard NAME` is short for
    this): per model the aggregation tree's nodes (root first), then per benchmark the value, its interval where
    stored and its status (stale, untrusted, failed with its error, missing)."""
    from ..registry.catalog import describe_benchmark, get_leaderboard
    from ..results.board import build_board
    from ..results.report import notes, render, table_rows, write_report
    from ..results.store import ResultsStore

    if plot_path:
        file_to_write(plot_path, "--plot", plot_formats())
    if output:
        file_to_write(output, "--output")
    store = ResultsStore(db)
    if as_json:
        from ..results.leaderboards import leaderboard as build

        text = build(name, store, value=value).reset_index().to_json(orient="records", indent=2)
        if output:
            console(stderr=True).print(f"json records: {write_report(text + chr(10), output)}", highlight=False)
        else:
            click.echo(text)
        return
    spec = get_leaderboard(name)
    from ..scoring.regenerate import labelled_spec

    board = build_board(labelled_spec(spec), store, value=value)
    if output or fmt != "table":
        text = render(board, fmt, store)
        if output:
            console(stderr=True).print(f"{fmt} report: {write_report(text, output)}", highlight=False)
        else:
            click.echo(text, nl=False)
    elif not board.models:
        console().print(f"leaderboard {name!r} has no stored results yet; run `brainbench score --model M --benchmark B`.")
    else:
        from rich.markup import escape

        out = console()
        if spec.description:
            out.print(f"{name}: {spec.description}", highlight=False)
        for benchmark in board.benchmarks:
            try:
                out.print(f"  {describe_benchmark(benchmark)}", highlight=False)
            except BrainbenchError as exc:  # stored results of a benchmark no longer registered
                out.print(f"  {benchmark}: not registered here ({exc})", highlight=False)
        columns, rows = table_rows(board)
        out.print(rich_table(f"leaderboard {name} ({value} scores)", columns, rows))
        for note in notes(board):  # model labels may hold brackets: escaped
            out.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if plot_path and board.models:
        from pathlib import Path

        from ..results.plots import plot_board, save_figure

        fig = plot_board(board)
        if Path(plot_path).suffix.lower() in (".png", ".svg"):
            save_figure(fig, plot_path)
        else:  # another format matplotlib writes (pdf, ...)
            fig.savefig(plot_path)
        import matplotlib.pyplot as plt

        plt.close(fig)
        console(stderr=True).print(f"plot: {plot_path}", highlight=False)


from .regenerate import regenerate_command  # noqa: E402 - its own file, so `show` and `regenerate` change apart

leaderboard.add_command(regenerate_command)
