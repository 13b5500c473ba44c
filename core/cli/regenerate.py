"""``brainbench leaderboard regenerate NAME``: compute a leaderboard's missing and out-of-date cells, in-process or on
Dask, with live progress, then print the board (:mod:`brainbench.scoring.regenerate`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from .output import console, handle_errors, rich_table

if TYPE_CHECKING:
    from ..results.board import Board
    from ..scoring.regenerate import CellEvent, Plan

__all__ = ["regenerate_command"]


class _Live:
    """Live progress of a regeneration (rich, on stderr): cells done / running / failed / left. On Dask (``lines``
    False) one live display also lists the cells running now with their time so far (every cell a worker reported
    started); in-process (``lines``) a line per cell as it starts, under which the cell's own extraction progress bar
    runs. Silent when ``enabled`` is False (``--quiet``, or stderr not a terminal)."""

    def __init__(self, enabled: bool, lines: bool = False):
        self.enabled, self.lines = enabled, lines
        self.total = self.ok = self.failed = 0
        self.running: dict[tuple[str, str], float] = {}
        self.live: Any = None

    def start(self, plan: Plan) -> None:
        self.total = len(plan.todo)
        if self.enabled and self.total and not self.lines:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=True,
                             get_renderable=self._render)
            self.live.start()

    def __call__(self, event: CellEvent) -> None:
        import time

        key = (event.model, event.benchmark)
        if event.kind == "start":
            self.running[key] = time.monotonic()
            if self.enabled and self.lines:
                from rich.markup import escape

                console(stderr=True).print(f"{escape(self._render().plain.splitlines()[0])}: now {escape(event.model)} on "
                                           f"{escape(event.benchmark)}", highlight=False)
            return
        self.running.pop(key, None)
        if event.status == "failed":
            self.failed += 1
        else:
            self.ok += 1

    def _render(self) -> Any:
        import time

        from rich.markup import escape
        from rich.text import Text

        left = self.total - self.ok - self.failed - len(self.running)
        lines = [f"cells: {self.ok} done, {len(self.running)} running, {self.failed} failed, {max(left, 0)} left "
                 f"of {self.total}"]
        now = time.monotonic()
        lines += [f"  running {escape(m)} on {escape(b)} ({now - t:.0f} s)" for (m, b), t in list(self.running.items())]
        return Text.from_markup("\n".join(lines))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def print_board(board: Board) -> None:
    """The board: models (ranked) x benchmarks and the aggregation nodes, then every cell that is not ``ok`` with its
    status and reason."""
    from rich.markup import escape

    out = console()
    frame = board.to_frame()
    columns = ["rank", "model", *frame.columns]
    rows = [[i + 1, model, *[None if isinstance(v, float) and math.isnan(v) else v for v in row]]
            for i, (model, row) in enumerate(frame.iterrows())]
    out.print(rich_table(f"leaderboard {board.name} ({board.value} scores)", columns, rows))
    for (model, benchmark), cell in sorted(board.cells.items()):
        if cell.status != "ok":
            out.print(f"[yellow]{cell.status}:[/yellow] {escape(model)} on {escape(benchmark)}: "
                      f"{escape(cell.reason or '')}", highlight=False)
    for model in board.models:
        for benchmark in board.benchmarks:
            if (model, benchmark) not in board.cells:
                out.print(f"[yellow]missing:[/yellow] {escape(model)} on {escape(benchmark)}", highlight=False)
    for note in board.notes:
        out.print(f"note: {escape(note)}", highlight=False)


def _print_dry_run(plan: Plan) -> None:
    from rich.markup import escape

    from ..extraction.memory import format_bytes
    from ..scoring.regenerate import dry_run_estimates

    out = console()
    rows = [[c.model, c.benchmark, c.status, c.reason or ""] for c in plan.todo]
    out.print(rich_table(f"leaderboard {plan.spec.name}: {len(plan.todo)} of {len(plan.cells)} cells would run",
                         ["model", "benchmark", "status", "reason"], rows))
    kept = [c for c in plan.cells if not c.run and c.status == "failed"]
    for c in kept:
        out.print(f"[yellow]failed, kept (--retry-failed reruns it):[/yellow] {escape(c.model)} on "
                  f"{escape(c.benchmark)}: {escape(c.reason or '')}", highlight=False)
    if not plan.todo:
        return
    estimates = dry_run_estimates(plan)
    out.print(rich_table("estimate per model and stimulus set (features extracted once, shared by its benchmarks)",
                         ["model", "benchmarks", "features", "peak memory", "time"],
                         [[e["model"], ", ".join(e["cells"]), format_bytes(e["bytes"]), format_bytes(e["peak_bytes"]),
                           e["note"] or f"{e['seconds']:.1f} s"] for e in estimates]))
    total = sum(e["seconds"] for e in estimates)
    out.print(f"total: {format_bytes(sum(e['bytes'] for e in estimates))} of features, about {total:.1f} s of forward "
              "passes (a timed forward pass of 16 images, per image, x stimuli x passes; metric time not included)", highlight=False)


@click.command("regenerate")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="list the cells that would run, with time and memory estimates")
@click.option("--retry-failed", is_flag=True, help="rerun cells whose newest attempt failed")
@click.option("--force", is_flag=True, help="recompute every cell, up to date or not")
@click.option("--workers", type=int, default=None, help="run on a Dask LocalCluster of N worker processes")
@click.option("--scheduler", default=None, help="run on the Dask scheduler at this address (tcp://HOST:8786)")
@click.option("--timeout", "scheduler_timeout", type=float, default=None,
              help="seconds to wait for --scheduler to answer [default: 10]")
@click.option("--db", default=None, help="results database URL")
@click.option("--value", type=click.Choice(["auto", "normalised", "raw"]), default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="no live progress")
@handle_errors
def regenerate_command(name: str, dry_run: bool, retry_failed: bool, force: bool, workers: int | None,
                       scheduler: str | None, scheduler_timeout: float | None, db: str | None, value: str,
                       quiet: bool) -> None:
    """Compute leaderboard NAME's missing and out-of-date cells (a second run right after computes nothing), then
    print the board. Failed cells stay failed with their error unless --retry-failed."""
    from ..results.store import ResultsStore
    from ..scoring.regenerate import SCHEDULER_TIMEOUT, plan_regeneration, regenerate

    store = ResultsStore(db)
    if dry_run:
        _print_dry_run(plan_regeneration(name, store, retry_failed=retry_failed, force=force))
        return
    in_process = not workers and not scheduler
    live = _Live(enabled=not quiet and console(stderr=True).is_terminal, lines=in_process)
    try:
        done = regenerate(name, store, retry_failed=retry_failed, force=force, workers=workers, scheduler=scheduler,
                          scheduler_timeout=SCHEDULER_TIMEOUT if scheduler_timeout is None else scheduler_timeout,
                          events=live, on_plan=live.start, value=value,
                          score_options={"progress": live.enabled and in_process})
    finally:
        live.stop()
    counts = done.counts
    console(stderr=True).print(
        f"run {done.run_id}: {len(done.plan.todo)} of {len(done.plan.cells)} cells computed ({counts['ok']} ok, "
        f"{counts['failed']} failed" + (f", {counts['stored']} already stored" if counts["stored"] else "") + ")",
        highlight=False)
    print_board(done.board)
