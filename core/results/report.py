"""Reports of a leaderboard :class:`~brainbench.results.board.Board`: a text table, Markdown, CSV, JSON and one
self-contained HTML page (``brainbench leaderboard show NAME --format ...``).

Every format shows, per model (in the board's ranking), the aggregation tree's nodes (the root first) and, per
benchmark, the cell's value, its stored bootstrap interval and its status: ``ok``, ``stale`` (shown, flagged, with
why), ``untrusted`` (no normalised score: the ceiling is too unreliable), ``failed`` (with the error) or
``missing``. A node's aggregate follows the board's missing rule (:meth:`Board.aggregate`).

- :func:`records`: the long table every format draws (one record per model and node or benchmark);
  :func:`to_csv` writes it, :func:`to_json` nests it per model.
- :func:`table_rows`: the wide table (rank, model, nodes, benchmarks; one text per cell) of :func:`to_text` and
  :func:`to_markdown`; :func:`notes` the reasons behind every cell and node that is not plainly ``ok``.
- :func:`to_html`: a page with no network at all (scripts and styles inline, a Content-Security-Policy that allows
  nothing else), a table sortable by any column, ceiling-normalised and raw scores behind a switch, and each cell
  linked to its provenance (the stored result, :meth:`ResultsStore.get`) or its failure's traceback
  (:meth:`ResultsStore.failures`). Every user string is escaped.
- :func:`render` picks a format by name; :func:`write_report` writes a report atomically.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .board import VALUED, Aggregate, Board, Cell

if TYPE_CHECKING:
    from .result import ScoreResult
    from .store import ResultsStore

__all__ = ["FORMATS", "RECORD_FIELDS", "aggregate_text", "cell_text", "notes", "ranks", "raw_board", "records",
           "render", "table_rows", "to_csv", "to_html", "to_json", "to_markdown", "to_text", "write_report"]

FORMATS = ("table", "markdown", "csv", "json", "html")
RECORD_FIELDS = ("rank", "model", "kind", "name", "status", "value", "low", "high", "raw", "normalised", "ceiling",
                 "layer", "n", "of", "result_id", "failure_id", "reason")
_VALUE_KIND = {"auto": "ceiling-normalised where a ceiling exists, raw otherwise", "normalised": "ceiling-normalised",
               "raw": "raw"}


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4f}"


def cell_text(cell: Cell) -> str:
    """One cell as text: ``0.5120 [0.4500, 0.5700]`` (value and interval), ``0.5120 stale``, ``untrusted``,
    ``failed`` or ``missing`` (the reasons are in :func:`notes`)."""
    if cell.status in VALUED and cell.value is not None:
        text = _number(cell.value)
        if cell.low is not None and cell.high is not None:
            text += f" [{_number(cell.low)}, {_number(cell.high)}]"
        return text + (" stale" if cell.status == "stale" else "")
    return cell.status


def aggregate_text(agg: Aggregate) -> str:
    """A node's aggregate as text: ``0.5000``; under the ``partial`` rule ``0.5000 (1 of 2)`` (members present) or
    ``0.5000 (partial: X)`` (every member present, but member node X is partial); or ``missing``."""
    if agg.value is None:
        return "missing"
    if agg.n < agg.of:
        return _number(agg.value) + f" ({agg.n} of {agg.of})"
    return _number(agg.value) + (f" (partial: {', '.join(agg.partial_below)})" if agg.partial_below else "")


def _node_order(board: Board) -> list[str]:
    return [board.root, *[n for n in board.nodes if n != board.root]]


def ranks(board: Board) -> dict[str, int | None]:
    """Each model's rank by its root aggregate (1 = best; ties share the better rank); ``None`` without one."""
    out: dict[str, int | None] = {}
    previous, rank = None, 0
    for i, model in enumerate(board.ranking(), start=1):
        value = board.aggregate(model).value
        if value is None:
            out[model] = None
            continue
        if value != previous:
            rank, previous = i, value
        out[model] = rank
    return out


def records(board: Board) -> list[dict[str, Any]]:
    """The long table: per model (ranked), one record per aggregation node (root first; ``kind`` ``node``, status
    ``ok``, ``partial`` (fewer members than the node has, or a partial member node) or ``missing``) and per benchmark
    (``kind`` ``benchmark``, the cell's fields). Keys: :data:`RECORD_FIELDS`; absent numbers are ``None``."""
    out = []
    rank = ranks(board)
    for model in board.ranking():
        for node in _node_order(board):
            agg = board.aggregate(model, node)
            status = "missing" if agg.value is None else ("ok" if agg.complete else "partial")
            out.append(dict.fromkeys(RECORD_FIELDS) | {
                "rank": rank[model], "model": model, "kind": "node", "name": node, "status": status,
                "value": agg.value, "n": agg.n, "of": agg.of, "reason": agg.reason})
        for benchmark in board.benchmarks:
            c = board.cell(model, benchmark)
            out.append(dict.fromkeys(RECORD_FIELDS) | {
                "rank": rank[model], "model": model, "kind": "benchmark", "name": benchmark, "status": c.status,
                "value": c.value, "low": c.low, "high": c.high, "raw": c.raw, "normalised": c.normalised,
                "ceiling": c.ceiling, "layer": c.layer, "result_id": c.result_id, "failure_id": c.failure_id,
                "reason": c.reason})
    return out


def table_rows(board: Board) -> tuple[list[str], list[list[str]]]:
    """The wide table: columns ``rank``, ``model``, the nodes (root first), the benchmarks, ``n`` (benchmarks with a
    value); one text per cell (:func:`aggregate_text`, :func:`cell_text`), models in ranking order."""
    nodes = _node_order(board)
    columns = ["rank", "model", *nodes, *board.benchmarks, "n"]
    rank = ranks(board)
    rows = []
    for model in board.ranking():
        cells = [board.cell(model, b) for b in board.benchmarks]
        rows.append(["" if rank[model] is None else str(rank[model]), model,
                     *[aggregate_text(board.aggregate(model, n)) for n in nodes], *[cell_text(c) for c in cells],
                     str(sum(c.status in VALUED for c in cells))])
    return columns, rows


def notes(board: Board) -> list[str]:
    """Why each cell is not plainly ``ok`` (``MODEL on BENCHMARK: STATUS: REASON``) and why each node's aggregate is
    missing or partial (``MODEL NODE: REASON``), then the board's own notes (e.g. benchmarks no node covers)."""
    out = []
    for model in board.ranking():
        for node in _node_order(board):
            agg = board.aggregate(model, node)
            if agg.reason:
                out.append(f"{model} {node}: {agg.reason}")
        for benchmark in board.benchmarks:
            c = board.cell(model, benchmark)
            if c.status != "ok":
                out.append(f"{model} on {benchmark}: {c.status}" + (f": {c.reason}" if c.reason else ""))
    return out + list(board.notes)


def _title(board: Board) -> str:
    return f"leaderboard {board.name} ({_VALUE_KIND.get(board.value, board.value)} scores)"


def to_text(board: Board, *, width: int = 400) -> str:
    """The wide table (:func:`table_rows`) drawn as a plain-text (rich) table, then its notes."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    columns, rows = table_rows(board)
    table = Table(title=escape(_title(board)), title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(escape(column), overflow="fold", no_wrap=i < 2)
    for row in rows:
        table.add_row(*(escape(v) for v in row))
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, color_system=None, soft_wrap=True).print(table)
    return buffer.getvalue() + "".join(f"note: {n}\n" for n in notes(board))


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(board: Board) -> str:
    """A Markdown report: the title and description, the wide table (:func:`table_rows`; ``|``, ``<`` and ``>`` in
    names escaped) and the notes as a list."""
    columns, rows = table_rows(board)
    lines = [f"## {_md(_title(board))}", ""]
    if board.description:
        lines += [_md(board.description), ""]
    lines.append("| " + " | ".join(_md(c) for c in columns) + " |")
    lines.append("|" + "|".join("---:" if c not in ("model",) else "---" for c in columns) + "|")
    lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in rows]
    found = notes(board)
    if found:
        lines += ["", *[f"- {_md(n)}" for n in found]]
    return "\n".join(lines) + "\n"


def to_csv(board: Board) -> str:
    """The long table (:func:`records`) as CSV with a header row (:data:`RECORD_FIELDS`); absent values empty,
    numbers as Python writes them (full precision)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECORD_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records(board):
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def report_dict(board: Board) -> dict[str, Any]:
    """The JSON report as a dict: the board's name, description, value kind, root, missing rule, nodes, benchmarks
    and notes, and ``models``: per model (ranked) its ``rank``, ``aggregates`` (root first) and ``cells``."""
    by_model: dict[str, dict[str, Any]] = {}
    for r in records(board):
        entry = by_model.setdefault(r["model"], {"model": r["model"], "rank": r["rank"], "aggregates": [], "cells": []})
        fields = ("name", "status", "value", "n", "of", "reason") if r["kind"] == "node" else \
            ("name", "status", "value", "low", "high", "raw", "normalised", "ceiling", "layer", "result_id",
             "failure_id", "reason")
        item = {k: r[k] for k in fields}
        item["node" if r["kind"] == "node" else "benchmark"] = item.pop("name")
        entry["aggregates" if r["kind"] == "node" else "cells"].append(item)
    return {"leaderboard": board.name, "description": board.description, "value": board.value, "root": board.root,
            "missing": board.missing, "nodes": board.nodes, "benchmarks": board.benchmarks, "notes": list(board.notes),
            "models": list(by_model.values())}


def to_json(board: Board) -> str:
    """:func:`report_dict` as indented JSON (non-finite numbers as ``null``)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(report_dict(board)), indent=2, allow_nan=False) + "\n"


def _results(board: Board, store: ResultsStore | None) -> dict[int, ScoreResult]:
    if store is None:
        return {}
    ids = sorted({c.result_id for c in board.cells.values() if c.result_id is not None})
    return {i: store.get(i) for i in ids}


def raw_board(board: Board, store: ResultsStore | None = None) -> Board:
    """``board`` with raw scores: every stored cell (``ok``, ``stale``, ``untrusted``: an unreliable ceiling does not
    touch the raw score) shows its raw value and the raw bootstrap interval of its stored result (read from
    ``store``; none without one); failed and missing cells stay. ``board`` itself when it already shows raw."""
    if board.value == "raw":
        return board
    results = _results(board, store)
    cells = {}
    for key, c in board.cells.items():
        if c.result_id is None or c.raw is None:
            cells[key] = c
            continue
        interval = results[c.result_id].interval if c.result_id in results else None
        status = "stale" if c.status == "stale" else "ok"
        cells[key] = replace(c, status=status, value=c.raw, low=interval.low if interval else None,
                             high=interval.high if interval else None,
                             reason=c.reason if status == "stale" else None)
    return replace(board, value="raw", cells=cells)


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.model,th.model{text-align:left}td.node{background:#f8f8ff;font-weight:600}
td.failed{background:#fde8e8;color:#900}td.missing{color:#888}td.stale{background:#fff6d6}
td.untrusted{background:#eee;color:#666}small{color:#666}.why{font-size:11px;text-align:left;max-width:24em}
body[data-view=raw] .v{display:none}body:not([data-view=raw]) .r{display:none}
section.prov{border-top:1px solid #ddd;margin-top:1em}section.prov:target{background:#fffbe0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}
pre{background:#f6f6f6;padding:8px;overflow:auto}
"""

_SCRIPT = """
(function () {
  var table = document.getElementById("board");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells, state = {col: -1, dir: 0};
  function key(td) {
    var raw = document.body.getAttribute("data-view") === "raw" && td.hasAttribute("data-raw");
    return td.getAttribute(raw ? "data-raw" : "data-value");
  }
  function sort(col, dir) {
    var numeric = heads[col].getAttribute("data-type") === "num", body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === "" || x === null) { return (y === "" || y === null) ? 0 : 1; }  /* no value: always last */
      if (y === "" || y === null) { return -1; }
      if (numeric) { return dir * (parseFloat(x) - parseFloat(y)); }
      return dir * (x < y ? -1 : x > y ? 1 : 0);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[col].setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    state = {col: col, dir: dir};
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var first = th.getAttribute("data-first") === "desc" ? -1 : 1;
      sort(col, state.col === col ? -state.dir : first);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("input[name=view]"), function (input) {
    input.addEventListener("change", function () {
      document.body.setAttribute("data-view", input.value);
      if (state.col >= 0) { sort(state.col, state.dir); }
    });
  });
})();
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _attr(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _html_cell(cell: Cell, raw: Cell, linked: bool) -> str:
    status = cell.status
    why = f'<div class="why">{_e(cell.reason)}</div>' if cell.reason and status != "ok" else ""
    if cell.status in VALUED or cell.status == "untrusted" or (raw.status in VALUED and raw.value is not None):
        shown = f'<span class="v">{_e(cell_text(cell))}</span><span class="r">{_e(cell_text(raw))}</span>'
        href = f"#result-{cell.result_id}" if linked and cell.result_id is not None else None
    else:
        shown = _e(status)
        href = f"#failure-{cell.failure_id}" if linked and cell.failure_id is not None else None
    body = f'<a href="{href}">{shown}</a>' if href else shown
    value = cell.value if cell.status in VALUED else None
    raw_value = raw.value if raw.status in VALUED else None
    return (f'<td class="{status}" data-value="{_attr(value)}" data-raw="{_attr(raw_value)}" '
            f'title="{_e(cell.status)}">{body}{why}</td>')


def _html_node(agg: Aggregate, raw: Aggregate) -> str:
    text = f'<span class="v">{_e(aggregate_text(agg))}</span><span class="r">{_e(aggregate_text(raw))}</span>'
    why = f'<div class="why">{_e(agg.reason)}</div>' if agg.reason else ""
    return f'<td class="node" data-value="{_attr(agg.value)}" data-raw="{_attr(raw.value)}">{text}{why}</td>'


def _provenance(result_id: int, result: ScoreResult) -> str:
    p = result.provenance
    interval = result.interval
    fields: list[tuple[str, Any]] = [
        ("model", p.model), ("weights", p.weights), ("weights hash", p.weights_hash), ("benchmark", p.benchmark),
        ("benchmark version", p.benchmark_version), ("metric", p.metric), ("metric version", p.metric_version),
        ("layer", result.layer), ("raw", _number(result.raw)), ("ceiling", _number(result.ceiling)),
        ("normalised", _number(result.normalised)), ("ceiling rule", p.ceiling_rule),
        ("interval", "" if interval is None else
         f"{interval.level:g}: raw [{_number(interval.low)}, {_number(interval.high)}], normalised "
         f"[{_number(interval.normalised_low)}, {_number(interval.normalised_high)}]; {interval.n_boot} bootstrap "
         f"replicates over {interval.over}, seed {interval.seed}"),
        ("split seed", p.split_seed), ("model seed", p.model_seed), ("stimulus set", p.stimulus_set),
        ("created", p.created), ("device", p.device), ("brainbench version", p.brainbench_version),
        ("code versions", ", ".join(f"{k} {v}" for k, v in sorted(p.code.items()))),
        ("notes", "; ".join(result.notes)),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields)
    return (f'<section class="prov" id="result-{int(result_id)}"><h3>result {int(result_id)}: {_e(result.model)} on '
            f'{_e(result.benchmark)}</h3><dl>{items}</dl></section>')


def to_html(board: Board, store: ResultsStore | None = None) -> str:
    """One self-contained HTML page (no network: inline style and script, a Content-Security-Policy that allows
    nothing else, no fonts or images): the board as a table sortable by any column (click a header; again to
    reverse; cells without a value sort last), the board's scores and raw scores behind a switch (when the board
    does not already show raw ones), intervals where stored, failed cells with their error, aggregates per node
    (root first), then the notes. With ``store``, each stored cell links to an in-page section with its result's
    provenance (:meth:`ResultsStore.get`) and each failed cell to its error and traceback
    (:meth:`ResultsStore.failures`). Every user string is escaped."""
    raw = raw_board(board, store)
    linked = store is not None
    nodes = _node_order(board)
    rank = ranks(board)
    both = board.value != "raw"
    head = ['<th data-type="num" data-first="asc">rank</th>', '<th class="model" data-type="text">model</th>']
    head += [f'<th data-type="num" data-first="desc" title="aggregation node">{_e(n)}</th>' for n in nodes]
    head += [f'<th data-type="num" data-first="desc">{_e(b)}</th>' for b in board.benchmarks]
    body = []
    for model in board.ranking():
        r = rank[model]
        cells = [f'<td data-value="{"" if r is None else r}">{"" if r is None else r}</td>',
                 f'<td class="model" data-value="{_e(model)}">{_e(model)}</td>']
        cells += [_html_node(board.aggregate(model, n), raw.aggregate(model, n)) for n in nodes]
        cells += [_html_cell(board.cell(model, b), raw.cell(model, b), linked) for b in board.benchmarks]
        body.append(f'<tr data-model="{_e(model)}">{"".join(cells)}</tr>')
    switch = ""
    if both:
        switch = ('<p class="switch">Scores: <label><input type="radio" name="view" value="value" checked> '
                  f'{_e(_VALUE_KIND.get(board.value, board.value))}</label> <label><input type="radio" name="view" '
                  'value="raw"> raw</label></p>')
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'script-src \'unsafe-inline\'; img-src data:">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', '<link rel="icon" href="data:,">',
        f"<title>{_e(f'leaderboard {board.name}')}</title>", f"<style>{_STYLE}</style></head>",
        '<body data-view="value">', f"<h1>{_e(f'leaderboard {board.name}')}</h1>",
    ]
    if board.description:
        parts.append(f'<p class="description">{_e(board.description)}</p>')
    tree = "; ".join(f"{n} = mean of {', '.join(board.nodes[n])}" for n in nodes)
    parts.append(f'<p class="tree">Aggregation ({_e(board.missing)} rule): {_e(tree)}. Intervals are stored '
                 'bootstrap intervals. Click a column header to sort by it, again to reverse.</p>')
    parts.append(switch)
    if board.models:
        parts.append(f'<table id="board"><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody>'
                     "</table>")
    else:
        parts.append(f"<p>No stored results for leaderboard {_e(board.name)} yet.</p>")
    found = notes(board)
    if found:
        parts.append("<h2>Notes</h2><ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in found) + "</ul>")
    if linked:
        parts.append("<h2>Provenance</h2>")
        parts += [_provenance(i, result) for i, result in _results(board, store).items()]
        failure_ids = {c.failure_id for c in board.cells.values() if c.failure_id is not None}
        for f in (store.failures(latest=False) if failure_ids else []):
            if f["id"] in failure_ids:
                parts.append(
                    f'<section class="prov" id="failure-{int(f["id"])}"><h3>failure {int(f["id"])}: {_e(f["model"])} '
                    f'on {_e(f["benchmark"])}</h3><dl><dt>error</dt><dd>{_e(f["error"])}</dd><dt>created</dt>'
                    f'<dd>{_e(f["created"])}</dd><dt>run</dt><dd>{_e(f["run_id"])}</dd></dl>'
                    f'<pre>{_e(f["traceback"])}</pre></section>')
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def render(board: Board, fmt: str, store: ResultsStore | None = None) -> str:
    """The report of ``board`` in format ``fmt`` (:data:`FORMATS`: ``table`` plain text, ``markdown``, ``csv``,
    ``json``, ``html``); ``store`` gives the HTML page its provenance and raw intervals. A ConfigError names the
    formats for any other."""
    from ..checks import check_choice

    check_choice(fmt, "report format", FORMATS)
    if fmt == "table":
        return to_text(board)
    if fmt == "markdown":
        return to_markdown(board)
    if fmt == "csv":
        return to_csv(board)
    if fmt == "json":
        return to_json(board)
    return to_html(board, store)


def write_report(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a failed write leaves any earlier file as it was."""
    from ..data.files import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)
