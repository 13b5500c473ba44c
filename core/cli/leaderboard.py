"""``brainbench leaderboard``: show a leaderboard of registry.toml from the results store
(``brainbench leaderboard show NAME``, or just ``brainbench leaderboard NAME``)."""

from __future__ import annotations


import click

from ..errors import BrainbenchError
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
@click.option("--value", type=click.Choice(["auto", "normalised", "raw"]), default="auto", show_default=True)
@click.option("--db", default=None, help="results database URL")
@click.option("--plot", "plot_path", default=None, help="write a bar-chart PNG here")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show(name: str, value: str, db: str | None, plot_path: str | None, as_json: bool) -> None:
    """Show leaderboard NAME (from registry.toml) from the stored results (`brainbench leaderboard NAME` is short for
    this)."""
    from ..registry.catalog import get_leaderboard
    from ..results.leaderboards import leaderboard as build
    from ..registry.catalog import describe_benchmark
    from ..results.store import ResultsStore

    if plot_path:
        file_to_write(plot_path, "--plot", plot_formats())
    table = build(name, ResultsStore(db), value=value)
    if as_json:
        click.echo(table.reset_index().to_json(orient="records", indent=2))
        return
    if table.empty:
        console().print(f"leaderboard {name!r} has no stored results yet; run `brainbench score --model M --benchmark B`.")
        return
    spec = get_leaderboard(name)
    out = console()
    if spec.description:
        out.print(f"{name}: {spec.description}", highlight=False)
    for benchmark in (c for c in table.columns if c not in ("mean", "n")):
        try:
            out.print(f"  {describe_benchmark(benchmark)}", highlight=False)
        except BrainbenchError as exc:  # stored results of a benchmark no longer registered
            out.print(f"  {benchmark}: not registered here ({exc})", highlight=False)
    columns = ["rank", "model", *[c for c in table.columns]]
    rows = [[i + 1, model, *row] for i, (model, row) in enumerate(table.iterrows())]
    console().print(rich_table(f"leaderboard {name} ({value} scores)", columns, rows))
    from rich.markup import escape

    for missing in table.attrs.get("missing", []):  # model labels may hold brackets: escaped
        console().print(f"[yellow]missing:[/yellow] {escape(missing)}", highlight=False)
    if plot_path:
        from ..results.plots import plot_leaderboard

        console(stderr=True).print(f"plot: {plot_leaderboard(table, plot_path, title=f'leaderboard {name}')}")


from .regenerate import regenerate_command  # noqa: E402 - its own file, so `show` and `regenerate` change apart

leaderboard.add_command(regenerate_command)
