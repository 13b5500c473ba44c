"""The board: cells with their status, the aggregation tree under its missing rule, and the regeneration tables
(runs, cells never duplicated, failures, snapshots) in a real SQLite file and a real PostgreSQL database."""

import math

import pytest
from pydantic import ValidationError

from brainbench.registry.cards import LeaderboardSpec
from brainbench.results.board import Board, build_board, resolve_tree
from brainbench.results.store import ResultsStore

SPEC = dict(name="t", benchmarks=["synthetic.*"], aggregation={"low": ["synthetic.early"],
                                                               "high": ["synthetic.late", "synthetic.mid"]})


@pytest.fixture
def store(store_url):
    return ResultsStore(store_url)


def test_aggregation_tree_is_validated():
    with pytest.raises(ValidationError, match="aggregation cycle: a -> b -> a"):
        LeaderboardSpec(name="x", benchmarks=["*"], aggregation={"a": ["b"], "b": ["a"]})
    with pytest.raises(ValidationError, match="has the root's name"):
        LeaderboardSpec(name="x", benchmarks=["*"], aggregation={"average": ["s.*"]})
    with pytest.raises(ValidationError, match="has no members"):
        LeaderboardSpec(name="x", benchmarks=["*"], aggregation={"a": []})
    nodes, notes = resolve_tree(LeaderboardSpec(**SPEC), ["synthetic.early", "synthetic.late", "other.x"])
    assert nodes == {"low": ["synthetic.early"], "high": ["synthetic.late"], "average": ["low", "high"]}
    assert any("'synthetic.mid' matches no benchmark" in n for n in notes)
    assert any("other.x" in n and "not in any" in n for n in notes)


def test_board_cells_and_the_missing_rule(generator_results, store):
    early, late = generator_results["synthetic.early"], generator_results["synthetic.late"]
    store.add(early)
    store.add(late)
    store.add(early.model_copy(update={"model": "b", "normalised": 0.2}))
    run = store.start_run(leaderboard="t", n_planned=2)
    store.add_failure(run_id=run, cell_key="k", model="b", benchmark="synthetic.late", error=RuntimeError("boom"),
                      traceback="Traceback ...")
    spec = LeaderboardSpec(**SPEC)
    models = ["synthetic_generator", "b", "never"]
    board = build_board(spec, store, models=models, benchmarks=["synthetic.early", "synthetic.late"])
    g = "synthetic_generator"
    assert board.cell(g, "synthetic.early").value == pytest.approx(early.normalised)
    failed = board.cell("b", "synthetic.late")
    assert failed.status == "failed" and failed.reason == "RuntimeError: boom" and failed.failure_id == 1
    assert board.cell("never", "synthetic.early").status == "missing"
    root = board.aggregate(g)
    assert root.value == pytest.approx((early.normalised + late.normalised) / 2) and (root.n, root.of) == (2, 2)
    # incomplete (default): b's "high" node lacks its only member, so high and the root are missing, with the reason
    assert board.aggregate("b", "high").value is None and "synthetic.late (RuntimeError: boom)" in \
        board.aggregate("b", "high").reason
    assert board.aggregate("b").value is None and "missing high" in board.aggregate("b").reason
    assert board.ranking() == [g, "b", "never"]
    partial = build_board(spec.model_copy(update={"missing": "partial"}), store, models=models,
                          benchmarks=["synthetic.early", "synthetic.late"])
    agg = partial.aggregate("b")
    assert agg.value == pytest.approx(0.2) and (agg.n, agg.of) == (1, 2) and agg.reason.startswith("1 of 2")
    frame = board.to_frame()
    assert list(frame.index) == [g, "b", "never"] and math.isnan(frame.loc["b", "average"])
    assert frame.loc[g, "n"] == 2 and frame.loc["b", "n"] == 1
    again = Board.from_json(board.to_json())
    assert again == board
    # a newer result supersedes the failure
    later = late.provenance.model_copy(update={"created": "2999-01-01T00:00:00+00:00"})
    store.add(late.model_copy(update={"model": "b", "normalised": 0.4, "provenance": later}))
    healed = build_board(spec, store, models=models, benchmarks=["synthetic.early", "synthetic.late"])
    assert healed.cell("b", "synthetic.late").status == "ok"
    assert healed.aggregate("b").value == pytest.approx((0.2 + 0.4) / 2)
    snap = store.add_snapshot("t", healed.to_json(), run_id=run)
    assert snap == 1


def test_a_cell_is_stored_once_per_run(generator_results, store):
    early = generator_results["synthetic.early"]
    run = store.start_run(leaderboard="t", n_planned=1, options={"workers": 2})
    first, written = store.add_cell(early, run_id=run, cell_key="abc")
    again, rewritten = store.add_cell(early, run_id=run, cell_key="abc")
    assert written and not rewritten and again == first
    assert len(store.rows(latest=False)) == 1
    other = store.start_run(leaderboard="t", n_planned=1)
    second, written = store.add_cell(early, run_id=other, cell_key="abc")  # a later run may recompute (--force)
    assert written and second != first
    store.finish_run(run)


def test_under_the_partial_rule_a_node_says_when_a_node_below_it_is_partial():
    from brainbench.results.board import Cell

    # root -> (A, c); A -> (B, a); B -> (b1, b2) and b2 never scored: B is 1 of 2, A and the root have all members
    nodes = {"root": ["A", "c"], "A": ["B", "a"], "B": ["b1", "b2"]}
    cells = {("m", b): Cell("m", b, "ok", value=v) for b, v in (("b1", 0.2), ("a", 0.4), ("c", 0.9))}
    board = Board(name="t", description="", value="raw", models=["m"], benchmarks=["b1", "b2", "a", "c"],
                  nodes=nodes, root="root", missing="partial", cells=cells)
    b, a, root = (board.aggregate("m", n) for n in ("B", "A", "root"))
    assert (b.value, b.n, b.of, b.complete) == (pytest.approx(0.2), 1, 2, False)
    assert (a.value, a.n, a.of, a.partial_below, a.complete) == (pytest.approx(0.3), 2, 2, ("B",), False)
    assert a.reason == "partial: B (1 of 2)"
    assert root.partial_below == ("A",) and root.reason == "partial: A (2 of 2, partial below)"
    assert root.value == pytest.approx((0.3 + 0.9) / 2) and not root.complete
    full = Board(**{**board.__dict__, "cells": {**cells, ("m", "b2"): Cell("m", "b2", "ok", value=0.6)}})
    assert full.aggregate("m").complete and full.aggregate("m").reason is None
