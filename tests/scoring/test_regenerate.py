"""Leaderboard regeneration: exactly the missing and stale cells run (a second run computes nothing), the
up-to-date policy, features once per model and stimulus set, failures recorded and kept, bad input, and on a real
Dask LocalCluster a worker killed mid-run loses only its in-flight cell."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import brainbench as bb
from brainbench.errors import SchedulerError, UnknownNameError
from brainbench.registry.cards import LeaderboardSpec
from brainbench.registry.entries import get_model
from brainbench.results.store import ResultsStore, cells_table, failures_table, results_table, runs_table, \
    snapshots_table
from brainbench.scoring.regenerate import (ModelRequest, cell_key, plan_regeneration, regenerate, release_series)
from tests.helpers import regen_models

REPO = Path(__file__).resolve().parents[2]
G1, G2 = "synthetic_generator[random:1]", "synthetic_generator[random:2]"
EARLY, LATE = "synthetic.early", "synthetic.late"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_ACTIVATIONS", str(tmp_path / "activations"))  # a cache of this test's own
    return ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")


def _count(store, table):
    from sqlalchemy import func, select

    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def _spec(models, benchmarks=(EARLY,), **kw):
    return LeaderboardSpec(name="t", models=list(models), benchmarks=list(benchmarks), **kw)


def test_regenerate_runs_missing_cells_then_nothing(store):
    spec = _spec([G1, G2], [EARLY], aggregation={"low": [EARLY]})
    events = []
    first = regenerate(spec, store, events=events.append)
    assert [(e.model, e.benchmark, e.status) for e in first.done] == [(G1, EARLY, "ok"), (G2, EARLY, "ok")]
    assert [e.kind for e in events] == ["start", "done"] * 2
    # the stored value is the score brainbench.score gives that model on that benchmark
    direct = bb.score(get_model("synthetic_generator", weights="random", seed=2), EARLY, progress=False)
    stored = first.board.cell(G2, EARLY)
    assert stored.status == "ok" and stored.raw == pytest.approx(direct.raw, abs=1e-9)
    assert stored.value == pytest.approx(direct.normalised, abs=1e-9) and stored.result_id == first.done[1].result_id
    assert first.board.aggregate(G2).value == pytest.approx(stored.value)
    assert _count(store, results_table) == 2 and _count(store, cells_table) == 2
    second = regenerate(spec, store)
    assert second.plan.todo == [] and second.done == [] and _count(store, results_table) == 2
    assert all(c.status == "ok" for c in second.plan.cells) and len(second.plan.cells) == 2
    with store.engine.connect() as conn:
        from sqlalchemy import select

        runs = conn.execute(select(runs_table.c.n_planned, runs_table.c.status)).all()
    assert runs == [(2, "done"), (0, "done")] and _count(store, snapshots_table) == 2


def test_up_to_date_policy_and_cell_key(store):
    assert (release_series("0.1.0"), release_series("0.1.7"), release_series("0.2.0"), release_series("1.4.2")) == \
        ("0.1", "0.1", "0.2", "1")
    model = get_model("synthetic_generator", weights="random", seed=1)
    result = bb.score(model, EARLY, progress=False)
    store.add(result)
    spec = _spec([G1])
    assert [c.status for c in plan_regeneration(spec, store).cells] == ["ok"]
    p = result.provenance

    def newest(**changes):
        store.add(result.model_copy(update={"provenance": p.model_copy(update=changes)}))
        return plan_regeneration(spec, store).cells[0]

    assert newest(brainbench_version="0.1.9").status == "ok"  # same release series
    cell = newest(weights_hash="ab" * 32)
    assert cell.status == "stale" and cell.run and cell.reason.startswith("weights changed (stored abababababab")
    cell = newest(benchmark_version="1")
    assert cell.status == "stale" and cell.reason == "benchmark version 1 -> 2"
    cell = newest(brainbench_version="0.0.3")
    assert cell.status == "stale" and cell.reason == "brainbench 0.0.3 -> 0.1.0"
    cell = newest(code={**p.code, "torch": "1.0"})
    assert cell.status == "stale" and cell.reason == f"forward code changed: torch 1.0 -> {p.code['torch']}"
    assert cell.cell_key == cell_key(G1, model.identity(), EARLY, ("2", "ridge", model_metric_version()))
    assert cell.cell_key != cell_key(G1, {**model.identity(), "weights_hash": "0"}, EARLY,
                                     ("2", "ridge", model_metric_version()))
    # the stale cell shows as stale on the board until recomputed; recomputing runs that cell alone
    run = regenerate(spec, store)
    assert [(e.model, e.benchmark) for e in run.done] == [(G1, EARLY)] and run.board.cell(G1, EARLY).status == "ok"
    assert plan_regeneration(spec, store).todo == []


def model_metric_version():
    from brainbench.registry.entries import get_registry

    return get_registry("metric").get("ridge").card.version


def test_features_once_per_model_and_stimulus_set(store):
    """synthetic.early and synthetic.late score the same 300 stimuli: the counting model's forward passes see them
    once (plus one 2-stimulus trace), since the group's second benchmark reads the activation cache."""
    spec = _spec(["tests.helpers.regen_models:counting"], [EARLY, LATE])
    regen_models.FORWARDED[0] = 0
    run = regenerate(spec, store)
    assert [e.status for e in run.done] == ["ok", "ok"]
    assert regen_models.FORWARDED[0] == 300 + 2
    regen_models.FORWARDED[0] = 0  # without the cache, each benchmark extracts its own: twice the images
    regenerate(spec, store, force=True, score_options={"cache": False})
    assert regen_models.FORWARDED[0] == 2 * 300 + 2


def test_a_model_that_fails_to_load_is_recorded_and_kept(store, tmp_path, monkeypatch):
    ok_file = tmp_path / "broken-loads"
    monkeypatch.setenv(regen_models.BROKEN_OK, str(ok_file))
    broken = "tests.helpers.regen_models:broken"
    spec = _spec([broken, G1])
    first = regenerate(spec, store)
    assert [(e.model, e.status) for e in first.done] == [(broken, "failed"), (G1, "ok")]
    why = f"BrainbenchError: {broken}(weights=None, seed=0) raised RuntimeError: weights file truncated (test)"
    assert first.done[0].error == why
    [failure] = store.failures()
    assert failure["model"] == broken and "Traceback (most recent call last)" in failure["traceback"] and \
        "in broken" in failure["traceback"] and failure["run_id"] == first.run_id
    cell = first.board.cell(broken, EARLY)
    assert cell.status == "failed" and cell.reason == why
    again = plan_regeneration(spec, store)  # failed stays failed, with its reason, until --retry-failed
    assert again.todo == [] and again.cells[0].status == "failed"
    ok_file.touch()  # the weights are repaired; the label stays the request's until it loads
    assert plan_regeneration(spec, store).cells[0].status == "missing"  # now it loads: a new key, so it runs
    retried = regenerate(spec, store, retry_failed=True)
    assert [(e.model, e.status) for e in retried.done] == [("synthetic_generator[random:7]", "ok")]


def test_retry_failed_reruns_a_failed_cell(store):
    broken = "tests.helpers.regen_models:broken"
    spec = _spec([broken])
    regenerate(spec, store)
    assert regenerate(spec, store).done == []
    retried = regenerate(spec, store, retry_failed=True)
    assert [(e.model, e.status) for e in retried.done] == [(broken, "failed")] and len(store.failures(latest=False)) == 2


def test_bad_leaderboards(store):
    with pytest.raises(UnknownNameError, match=r"leaderboard 't' .*unknown model 'synthetic_generatr'.*"
                                               r"Did you mean 'synthetic_generator'"):
        plan_regeneration(_spec(["synthetic_generatr"]), store)
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnett\*'.*Did you mean .*'resnet"):
        plan_regeneration(_spec(["resnett*"]), store)
    with pytest.raises(UnknownNameError, match=r"unknown benchmark 'synthetic.erly'.*Did you mean 'synthetic.early'"):
        plan_regeneration(_spec([G1], ["synthetic.erly"]), store)
    with pytest.raises(UnknownNameError, match=r"unknown benchmark 'nsd_nope\.\*'"):
        plan_regeneration(_spec([G1], ["nsd_nope.*"]), store)
    with pytest.raises(UnknownNameError, match="unknown leaderboard 'nope'"):
        plan_regeneration("nope", store)
    with pytest.raises(bb.errors.ConfigError, match="is not a label"):
        ModelRequest.parse("synthetic_generator[random:x]")
    assert ModelRequest.parse(G1) == ModelRequest("synthetic_generator", "random", 1)
    assert ModelRequest.parse(G1).label() == G1 and ModelRequest("efficientnet_lite0.random").label() == \
        "efficientnet_lite0[random]" and ModelRequest("efficientnet_lite0", "imagenet1k").label() == "efficientnet_lite0"


def test_star_means_the_models_already_scored(store):
    store.add(bb.score(get_model("synthetic_generator", weights="random", seed=2), EARLY, progress=False))
    plan = plan_regeneration(_spec(["*"], [EARLY, LATE]), store)
    assert plan.models == [G2] and [(c.benchmark, c.status) for c in plan.cells] == [(EARLY, "ok"), (LATE, "missing")]


def test_a_scheduler_that_does_not_answer(store):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SchedulerError, match=rf"tcp://127.0.0.1:{port}' did not answer within 1 s"):
        regenerate(_spec([G1]), store, scheduler=f"tcp://127.0.0.1:{port}", scheduler_timeout=1)
    assert _count(store, runs_table) == 0  # refused before a run was recorded


def test_cli_regenerate(tmp_path, monkeypatch):
    catalog = tmp_path / "registry.toml"
    catalog.write_text((REPO / "registry.toml").read_text() + f"""
[leaderboards.regen]
models = ["{G1}", "tests.helpers.regen_models:broken"]
benchmarks = ["{EARLY}"]
""")
    monkeypatch.setenv("BRAINBENCH_REGISTRY", str(catalog))
    monkeypatch.setenv("BRAINBENCH_ACTIVATIONS", str(tmp_path / "activations"))
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    from brainbench.cli.commands import main

    runner = CliRunner()
    dry = runner.invoke(main, ["leaderboard", "regenerate", "regen", "--dry-run", "--db", db])
    assert dry.exit_code == 0, dry.output
    assert "2 of 2 cells would run" in dry.output and "model does not load: BrainbenchError" in dry.output
    assert "forward passes" in dry.output
    first = runner.invoke(main, ["leaderboard", "regenerate", "regen", "--db", db, "--quiet"])
    assert first.exit_code == 0, first.output
    assert "2 of 2 cells computed (1 ok, 1 failed)" in first.output and "leaderboard regen" in first.output
    assert "failed: tests.helpers.regen_models:broken on synthetic.early: BrainbenchError" in first.output
    second = runner.invoke(main, ["leaderboard", "regenerate", "regen", "--db", db, "--quiet"])
    assert "0 of 2 cells computed (0 ok, 0 failed)" in second.output
    bad = runner.invoke(main, ["leaderboard", "regenerate", "nope", "--db", db])
    assert bad.exit_code == 2 and "unknown leaderboard 'nope'" in bad.output


def test_worker_killed_mid_run_loses_only_its_cell(store, tmp_path, monkeypatch):
    """A real LocalCluster of 2 worker processes: the killer model's worker dies (SIGKILL) inside its second cell,
    after its first was stored; Dask reruns the task, which skips the stored cell and computes the other. Every cell
    is stored exactly once, nothing failed. (Without the activation cache, so that the second cell runs a forward
    pass: with it, the second benchmark reads the first's features.)"""
    marker = tmp_path / "killed"
    monkeypatch.setenv(regen_models.KILL_MARKER, str(marker))
    monkeypatch.setenv(regen_models.KILL_DB, store.url)
    killer = "synthetic_generator[random:9]"
    spec = _spec(["tests.helpers.regen_models:killer", G1], [EARLY, LATE])
    events = []
    run = regenerate(spec, store, workers=2, events=events.append, score_options={"cache": False})
    assert marker.exists()  # a worker was killed
    assert sorted((e.model, e.benchmark, e.status) for e in run.done) == [
        (G1, EARLY, "ok"), (G1, LATE, "ok"), (killer, EARLY, "stored"), (killer, LATE, "ok")]
    rows = store.rows(latest=False)
    assert sorted((r["model"], r["benchmark"]) for r in rows) == sorted(
        [(G1, EARLY), (G1, LATE), (killer, EARLY), (killer, LATE)])  # none lost, none twice
    assert _count(store, cells_table) == 4 and _count(store, failures_table) == 0
    assert {(m, b): run.board.cell(m, b).status for m in (G1, killer) for b in (EARLY, LATE)} == {
        (m, b): "ok" for m in (G1, killer) for b in (EARLY, LATE)}
    assert plan_regeneration(spec, store).todo == []
    deadline = time.monotonic() + 10  # the workers' events reach the client through the run's topic
    while not any(e.kind == "start" for e in events) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(e.kind == "start" and e.model == G1 for e in events)


def test_live_progress_counts_cells():
    from brainbench.cli.regenerate import _Live
    from brainbench.scoring.regenerate import CellEvent, Plan, PlannedCell

    request = ModelRequest("synthetic_generator")
    cells = [PlannedCell("m", b, request, "missing", True, b) for b in ("a", "b", "c")]
    live = _Live(enabled=False)
    live.start(Plan(_spec(["m"]), ["m"], ["a", "b", "c"], cells))
    live(CellEvent("start", "m", "a"))
    live(CellEvent("done", "m", "a", "ok"))
    live(CellEvent("start", "m", "b"))
    live(CellEvent("done", "m", "b", "failed", error="RuntimeError: x"))
    live(CellEvent("start", "m", "c"))
    lines = live._render().plain.splitlines()
    assert lines[0] == "cells: 1 done, 1 running, 1 failed, 0 left of 3"
    assert lines[1].startswith("  running m on c (") and len(lines) == 2 and live.live is None  # quiet: no display


def test_dry_run_estimates_one_extraction_per_stimulus_set(store):
    from brainbench.extraction.plan import plan_extraction
    from brainbench.registry.entries import get_dataset
    from brainbench.scoring.regenerate import dry_run_estimates

    plan = plan_regeneration(_spec([G1], [EARLY, LATE]), store)
    [row] = dry_run_estimates(plan)  # both benchmarks score the same 300 stimuli: one extraction
    assert row["cells"] == [EARLY, LATE] and row["note"] is None and row["seconds"] > 0
    stimuli = get_dataset("synthetic").stimulus_set()
    layers = plan_extraction(get_model("synthetic_generator", weights="random", seed=1), stimuli).layers
    assert row["bytes"] == 300 * 4 * sum(p.units for p in layers)  # float32 features of every default layer


def test_in_process_progress_prints_a_line_per_cell(monkeypatch, capsys):
    from brainbench.cli import regenerate as cli
    from brainbench.scoring.regenerate import CellEvent, Plan, PlannedCell

    monkeypatch.setattr(cli, "console", lambda stderr=False: __import__("rich.console").console.Console(
        stderr=stderr, width=200, force_terminal=False))
    cells = [PlannedCell("m", b, ModelRequest("synthetic_generator"), "missing", True, b) for b in ("a", "b")]
    live = cli._Live(enabled=True, lines=True)
    live.start(Plan(_spec(["m"]), ["m"], ["a", "b"], cells))
    live(CellEvent("start", "m", "a"))
    live(CellEvent("done", "m", "a", "ok"))
    live(CellEvent("start", "m", "b"))
    assert live.live is None  # no live display in-process: the cell's own progress bar runs under the lines
    assert capsys.readouterr().err.splitlines() == ["cells: 0 done, 1 running, 0 failed, 1 left of 2: now m on a",
                                                    "cells: 1 done, 1 running, 0 failed, 0 left of 2: now m on b"]


def test_a_board_shown_from_the_store_finds_name_dot_weights_entries(tmp_path, monkeypatch):
    """A leaderboard entry `NAME.WEIGHTS` is stored under the label `NAME[WEIGHTS]`; show and plot must find it."""
    catalog = tmp_path / "registry.toml"
    catalog.write_text((REPO / "registry.toml").read_text() + f"""
[leaderboards.labels]
models = ["synthetic_generator", "synthetic_generator.random"]
benchmarks = ["{EARLY}", "synthetic.late"]
""")
    monkeypatch.setenv("BRAINBENCH_REGISTRY", str(catalog))
    monkeypatch.setenv("BRAINBENCH_ACTIVATIONS", str(tmp_path / "activations"))
    db = f"sqlite:///{tmp_path / 'labels.sqlite'}"
    from brainbench.cli.commands import main
    from brainbench.registry.catalog import get_leaderboard
    from brainbench.scoring.regenerate import labelled_spec

    assert labelled_spec(get_leaderboard("labels")).models == ["synthetic_generator", "synthetic_generator[random]"]
    runner = CliRunner()
    done = runner.invoke(main, ["leaderboard", "regenerate", "labels", "--db", db, "--quiet"])
    assert done.exit_code == 0 and "4 of 4 cells computed (4 ok, 0 failed)" in done.output, done.output
    shown = runner.invoke(main, ["leaderboard", "show", "labels", "--format", "json", "--db", db])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)["models"]
    assert sorted(r["model"] for r in rows) == ["synthetic_generator", "synthetic_generator[random]"]
    assert all(c["status"] == "ok" for r in rows for c in r["cells"]) and sum(len(r["cells"]) for r in rows) == 4
    plot = runner.invoke(main, ["plot", "scatter", "labels", "synthetic_generator", "synthetic_generator[random]",
                                "-o", str(tmp_path / "s.png"), "--db", db])
    assert plot.exit_code == 0, plot.output
