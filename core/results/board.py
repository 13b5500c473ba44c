"""A leaderboard as shown: every (model, benchmark) cell with its status, and the aggregation tree over them.

A :class:`Board` is what every report draws (``brainbench leaderboard show``: table, markdown, csv, json, html) and
what a regeneration snapshot keeps. Cells are never silently dropped or averaged: a cell is ``ok`` (a stored score),
``stale`` (a stored score its provenance says is out of date; shown, flagged), ``untrusted`` (a score whose ceiling is
too unreliable to normalise it; missing under normalised values), ``failed`` (the newest attempt raised; its error
is kept) or ``missing`` (never scored). Aggregates follow the leaderboard's ``missing`` rule
(:class:`~brainbench.registry.cards.LeaderboardSpec`): ``incomplete`` leaves a node with a missing or failed member
missing and names the members it lacks; ``partial`` averages the members present and says how many of how many.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..names import matches

if TYPE_CHECKING:
    import pandas as pd

    from ..registry.cards import LeaderboardSpec
    from .store import ResultsStore

__all__ = ["Aggregate", "Board", "Cell", "build_board", "resolve_tree"]

Status = Literal["ok", "stale", "untrusted", "failed", "missing"]
VALUED = ("ok", "stale")  # statuses whose value counts in an aggregate


@dataclass(frozen=True)
class Cell:
    """One model on one benchmark. ``value`` is the shown score (the board's ``value`` kind: ceiling-normalised,
    raw, or ``auto``: normalised where the benchmark has a ceiling); ``low``/``high`` its stored bootstrap interval
    (same kind), when one was computed; ``result_id`` the results-store row (its provenance: ``brainbench results
    --id N``), ``failure_id`` the failures row; ``reason`` says why a cell is not ``ok``."""

    model: str
    benchmark: str
    status: Status
    value: float | None = None
    raw: float | None = None
    normalised: float | None = None
    ceiling: float | None = None
    low: float | None = None
    high: float | None = None
    layer: str | None = None
    result_id: int | None = None
    failure_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Aggregate:
    """A node of the aggregation tree for one model: the mean of its members' values (``None`` when the rule leaves
    it missing), over ``n`` of its ``of`` members (leaf benchmarks, or nodes); ``partial_below`` names member nodes
    whose own value is partial (the ``partial`` rule), so a node with all its members can still rest on fewer
    benchmarks than it covers; ``reason`` names missing members and partial ones."""

    node: str
    model: str
    value: float | None
    n: int
    of: int
    reason: str | None = None
    partial_below: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every benchmark under the node has a value in it (all members, and no partial member node)."""
        return self.value is not None and self.n == self.of and not self.partial_below


@dataclass
class Board:
    """``models`` x ``benchmarks`` cells and the aggregation tree ``nodes`` (node -> members, each a benchmark id or
    another node's name; resolved, no patterns), whose root is ``root``. Built by :func:`build_board`."""

    name: str
    description: str
    value: str
    models: list[str]
    benchmarks: list[str]
    nodes: dict[str, list[str]]
    root: str
    missing: str
    cells: dict[tuple[str, str], Cell]
    notes: list[str] = field(default_factory=list)

    def cell(self, model: str, benchmark: str) -> Cell:
        return self.cells.get((model, benchmark)) or Cell(model, benchmark, "missing", reason="never scored")

    def aggregate(self, model: str, node: str | None = None) -> Aggregate:
        """The node's (default: the root's) aggregate for ``model``, under the board's missing rule."""
        node = node or self.root
        members = self.nodes[node]
        values, lacking, partial, partial_names = [], [], [], []
        for member in members:
            if member in self.nodes:
                sub = self.aggregate(model, member)
                ok, value, why = sub.value is not None, sub.value, sub.reason
                if ok and not sub.complete:
                    partial.append(f"{member} ({sub.n} of {sub.of}{', partial below' if sub.partial_below else ''})")
                    partial_names.append(member)
            else:
                c = self.cell(model, member)
                ok, value, why = c.status in VALUED and c.value is not None, c.value, c.reason or c.status
            if ok and value is not None and math.isfinite(value):
                values.append(value)
            else:
                lacking.append(f"{member} ({why})" if why else member)
        mean = sum(values) / len(values) if values else None
        if lacking and self.missing == "incomplete":
            return Aggregate(node, model, None, len(values), len(members), f"missing {', '.join(lacking)}")
        reasons = ([f"{len(values)} of {len(members)}; missing {', '.join(lacking)}"] if lacking else []) + \
            ([f"partial: {', '.join(partial)}"] if partial else [])
        return Aggregate(node, model, mean, len(values), len(members), "; ".join(reasons) or None,
                         tuple(partial_names))

    def aggregates(self, model: str) -> dict[str, Aggregate]:
        """Every node's aggregate for ``model``, root first."""
        order = [self.root, *[n for n in self.nodes if n != self.root]]
        return {n: self.aggregate(model, n) for n in order}

    def ranking(self) -> list[str]:
        """Models by their root aggregate, best first; models without one last, by name."""
        def key(model: str) -> tuple[int, float, str]:
            v = self.aggregate(model).value
            return (1, 0.0, model) if v is None else (0, -v, model)

        return sorted(self.models, key=key)

    def to_frame(self) -> pd.DataFrame:
        """Models (ranked) x benchmark values, then one column per aggregation node (the root first) and ``n``
        (benchmarks with a value); non-``ok`` cells are NaN."""
        import pandas as pd

        rows = []
        for model in self.ranking():
            row: dict[str, Any] = {"model": model}
            for b in self.benchmarks:
                c = self.cell(model, b)
                row[b] = c.value if c.status in VALUED and c.value is not None else math.nan
            for node, agg in self.aggregates(model).items():
                row[node] = math.nan if agg.value is None else agg.value
            row["n"] = sum(self.cell(model, b).status in VALUED for b in self.benchmarks)
            rows.append(row)
        columns = ["model", *self.benchmarks, *self.aggregates(self.models[0]).keys(), "n"] if self.models else \
            ["model", self.root, "n"]
        return pd.DataFrame(rows, columns=columns).set_index("model")

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "cells"}
        data["cells"] = [asdict(c) for c in self.cells.values()]
        return json.dumps(data, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Board:
        data = json.loads(text)
        cells = {(c["model"], c["benchmark"]): Cell(**c) for c in data.pop("cells")}
        return cls(**data, cells=cells)



def resolve_tree(spec: LeaderboardSpec, benchmarks: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The spec's aggregation tree over ``benchmarks`` (ids): each node's members resolved (patterns expanded, in
    ``benchmarks``' order; node names kept), plus the root (the mean of the nodes no node names, or of every
    benchmark without a tree). Returns ``(nodes, notes)``; a note names benchmarks no node covers (shown, not in the
    root) and patterns that match nothing."""
    notes: list[str] = []
    if not spec.aggregation:
        return {spec.root: list(benchmarks)}, notes
    nodes: dict[str, list[str]] = {}
    for node, members in spec.aggregation.items():
        resolved: list[str] = []
        for member in members:
            if member in spec.aggregation:
                resolved.append(member)
                continue
            hits = [b for b in benchmarks if matches(b, member)]
            if not hits:
                notes.append(f"node {node!r}: {member!r} matches no benchmark of this board")
            resolved.extend(h for h in hits if h not in resolved)
        nodes[node] = resolved
    named = {m for members in spec.aggregation.values() for m in members if m in spec.aggregation}
    nodes[spec.root] = [n for n in spec.aggregation if n not in named]
    covered = {b for members in nodes.values() for b in members}
    uncovered = [b for b in benchmarks if b not in covered]
    if uncovered:
        notes.append(f"not in any aggregation node (shown, not averaged): {', '.join(uncovered)}")
    return nodes, notes


def _value(row: dict[str, Any], value: str) -> tuple[float | None, str | None]:
    ceiling, normalised, raw = row.get("ceiling"), row.get("normalised"), row.get("raw")
    if value == "raw":
        return raw, None
    if ceiling is None:
        return (raw, None) if value == "auto" else (None, "no ceiling, so no normalised score")
    if normalised is None:
        return None, (f"ceiling {ceiling:.3f} too unreliable to normalise raw {raw:.3f}; `brainbench results --id "
                      f"{row['id']}` says why")
    return normalised, None


def build_board(spec: LeaderboardSpec, store: ResultsStore, *, value: str = "auto",
                models: list[str] | None = None, benchmarks: list[str] | None = None,
                stale: dict[tuple[str, str], str] | None = None) -> Board:
    """The board of ``spec`` from ``store``'s newest results and failures.

    ``models``/``benchmarks``: the rows and columns (default: those stored that match the spec's patterns; a
    regeneration passes the full expanded lists, so never-scored cells show as missing). ``stale``: (model,
    benchmark) -> why its stored result is out of date. A failure newer than the newest result makes the cell
    ``failed``; an older one is superseded. Intervals come from each result's stored bootstrap interval."""
    from ..checks import check_choice

    check_choice(value, "leaderboard value", ("auto", "normalised", "raw"))
    rows = [r for r in store.rows(model=spec.models) if matches(r["benchmark"], spec.benchmarks)]
    fails = [f for f in store.failures(model=spec.models) if matches(f["benchmark"], spec.benchmarks)]
    if models is None:
        models = sorted({r["model"] for r in rows} | {f["model"] for f in fails})
    if benchmarks is None:
        benchmarks = sorted({r["benchmark"] for r in rows} | {f["benchmark"] for f in fails})
    wanted_m, wanted_b = set(models), set(benchmarks)
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:  # several metrics on one benchmark id cannot happen (the id names its metric); keep the newest
        if r["model"] in wanted_m and r["benchmark"] in wanted_b:
            key = (r["model"], r["benchmark"])
            if key not in newest or r["id"] > newest[key]["id"]:
                newest[key] = r
    cells: dict[tuple[str, str], Cell] = {}
    for key, r in newest.items():
        shown, why = _value(r, value)
        low = high = None
        if shown is not None:
            interval = store.get(r["id"]).interval
            if interval is not None:
                low, high = ((interval.low, interval.high) if value == "raw" or r["ceiling"] is None
                             else (interval.normalised_low, interval.normalised_high))
        status: Status = "ok" if shown is not None else "untrusted"
        if stale and key in stale and shown is not None:
            status, why = "stale", stale[key]
        cells[key] = Cell(key[0], key[1], status, shown, r["raw"], r["normalised"], r["ceiling"], low, high,
                          r["layer"], r["id"], None, why)
    for f in fails:
        key = (f["model"], f["benchmark"])
        if f["model"] not in wanted_m or f["benchmark"] not in wanted_b:
            continue
        if key in newest and newest[key]["created"] > f["created"]:
            continue
        cells[key] = Cell(key[0], key[1], "failed", failure_id=f["id"], reason=f["error"])
    nodes, notes = resolve_tree(spec, list(benchmarks))
    return Board(spec.name, spec.description, value, list(models), list(benchmarks), nodes, spec.root, spec.missing,
                 cells, notes)
