"""Reports of a board (table, markdown, csv, json, html) checked against a hand-made board whose aggregates are
computed by hand, and the HTML page's provenance and escaping against a real SQLite store."""

import csv
import html
import io
import json
import re
from html.parser import HTMLParser

import pytest

from brainbench.errors import ConfigError
from brainbench.results.board import Board, Cell
from brainbench.results.report import (RECORD_FIELDS, notes, ranks, raw_board, render, table_rows, to_csv, to_html,
                                       to_json, to_markdown, to_text, write_report)
from brainbench.results.result import Interval
from brainbench.results.store import ResultsStore
from helpers.boards import NODES, hand_board

def test_wide_table_and_notes():
    columns, rows = table_rows(hand_board())
    assert columns == ["rank", "model", "average", "X", "Y", "x.one", "x.two", "y.three", "n"]
    assert rows == [
        ["1", "a", "0.6500", "0.5000", "0.8000", "0.6000 [0.5200, 0.7000]", "0.4000", "0.8000", "3"],
        ["", "b", "missing", "missing", "0.9000", "0.5000 stale", "failed", "0.9000", "2"],
        ["", "c", "missing", "missing", "missing", "untrusted", "missing", "missing", "0"],
    ]
    found = notes(hand_board())
    assert "b on x.two: failed: RuntimeError: boom" in found
    assert "b on x.one: stale: benchmark version 1 -> 2" in found
    assert "c on x.one: untrusted: ceiling too low" in found and "c on x.two: missing: never scored" in found
    assert "b X: missing x.two (RuntimeError: boom)" in found and found[-1] == "a board note"
    assert not [n for n in found[:-1] if n.startswith("a ")]  # every cell of a is ok
    _, partial = table_rows(hand_board("partial"))
    # the root has both its nodes, but node X rests on one of its two benchmarks: the root says so
    assert partial[0][:5] == ["1", "b", "0.7000 (partial: X)", "0.5000 (1 of 2)", "0.9000"]
    assert "b average: partial: X (1 of 2)" in notes(hand_board("partial"))
    assert partial[1][:3] == ["2", "a", "0.6500"]
    assert ranks(hand_board("partial")) == {"b": 1, "a": 2, "c": None}


def test_markdown():
    text = to_markdown(hand_board())
    lines = text.splitlines()
    assert lines[0] == "## leaderboard hand (ceiling-normalised where a ceiling exists, raw otherwise scores)"
    header = lines.index("| rank | model | average | X | Y | x.one | x.two | y.three | n |")
    assert lines[header + 1] == "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    assert lines[header + 2] == "| 1 | a | 0.6500 | 0.5000 | 0.8000 | 0.6000 [0.5200, 0.7000] | 0.4000 | 0.8000 | 3 |"
    assert "- b on x.two: failed: RuntimeError: boom" in lines
    board = hand_board()
    board.models.append("m|<i>")  # pipes and tags in a name cannot break the table or inject markup
    assert "| m\\|&lt;i&gt; | missing |" in to_markdown(board)


def test_csv_is_the_long_table():
    rows = list(csv.DictReader(io.StringIO(to_csv(hand_board()))))
    assert list(rows[0]) == list(RECORD_FIELDS)
    assert len(rows) == 3 * (3 + 3)  # 3 models x (3 nodes + 3 benchmarks)
    by = {(r["model"], r["name"]): r for r in rows}
    assert [(r["model"], r["kind"], r["name"]) for r in rows[:6]] == [
        ("a", "node", "average"), ("a", "node", "X"), ("a", "node", "Y"),
        ("a", "benchmark", "x.one"), ("a", "benchmark", "x.two"), ("a", "benchmark", "y.three")]
    assert float(by["a", "average"]["value"]) == pytest.approx(0.65) and by["a", "average"]["n"] == "2"
    one = by["a", "x.one"]
    assert (float(one["value"]), float(one["low"]), float(one["high"]), float(one["raw"])) == (0.6, 0.52, 0.7, 0.3)
    assert one["status"] == "ok" and one["result_id"] == "1" and one["layer"] == "l1" and one["rank"] == "1"
    assert by["b", "x.two"]["status"] == "failed" and by["b", "x.two"]["failure_id"] == "7"
    assert by["b", "x.two"]["reason"] == "RuntimeError: boom" and by["b", "x.two"]["value"] == ""
    assert by["b", "X"]["status"] == "missing" and by["b", "X"]["n"] == "1" and by["b", "X"]["of"] == "2"
    assert by["c", "x.one"]["status"] == "untrusted" and float(by["c", "x.one"]["raw"]) == 0.1
    partial = {(r["model"], r["name"]): r for r in csv.DictReader(io.StringIO(to_csv(hand_board("partial"))))}
    assert partial["b", "X"]["status"] == "partial" and float(partial["b", "average"]["value"]) == pytest.approx(0.7)
    assert partial["b", "average"]["status"] == "partial" and partial["a", "average"]["status"] == "ok"


def test_json_report():
    data = json.loads(to_json(hand_board()))
    assert (data["leaderboard"], data["root"], data["missing"], data["value"]) == ("hand", "average", "incomplete",
                                                                                  "auto")
    assert data["nodes"] == NODES and data["notes"] == ["a board note"]
    assert [m["model"] for m in data["models"]] == ["a", "b", "c"] and data["models"][0]["rank"] == 1
    a = data["models"][0]
    assert [g["node"] for g in a["aggregates"]] == ["average", "X", "Y"]
    assert a["aggregates"][0]["value"] == pytest.approx(0.65) and a["aggregates"][1]["value"] == pytest.approx(0.5)
    assert a["cells"][0] == {"benchmark": "x.one", "status": "ok", "value": 0.6, "low": 0.52, "high": 0.7, "raw": 0.3,
                             "normalised": 0.6, "ceiling": 0.5, "layer": "l1", "result_id": 1, "failure_id": None,
                             "reason": None}
    b = data["models"][1]
    assert b["rank"] is None and b["aggregates"][0]["value"] is None
    assert "missing X" in b["aggregates"][0]["reason"] and b["cells"][1]["reason"] == "RuntimeError: boom"


def test_text_table_and_render():
    text = to_text(hand_board())
    assert "0.6000 [0.5200, 0.7000]" in text and "note: b on x.two: failed: RuntimeError: boom" in text
    assert render(hand_board(), "markdown") == to_markdown(hand_board())
    with pytest.raises(ConfigError, match="report format 'htm' is not one of .*'html'"):
        render(hand_board(), "htm")


def test_raw_board_keeps_failures_and_reads_untrusted_raw_scores():
    raw = raw_board(hand_board())
    assert raw.value == "raw" and raw.cell("c", "x.one").status == "ok" and raw.cell("c", "x.one").value == 0.1
    assert raw.cell("b", "x.two").status == "failed" and raw.cell("b", "x.one").status == "stale"
    assert raw.aggregate("a").value == pytest.approx(((0.3 + 0.2) / 2 + 0.4) / 2)
    assert raw.cell("a", "x.one").low is None  # no store: the raw interval is unknown, never the normalised one


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.ids, self.links = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])


def _stored(generator_results, tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    early = generator_results["synthetic.early"]
    interval = Interval(level=0.95, low=0.1, high=0.3, standard_error=0.05, n_boot=100, over="stimuli", seed=0,
                        normalised_low=0.2, normalised_high=0.6)
    evil = "<script>alert(1)</script>"
    ids = {
        "good": store.add(early.model_copy(update={"model": "good", "raw": 0.2, "normalised": 0.4,
                                                   "interval": interval})),
        evil: store.add(early.model_copy(update={"model": evil, "raw": 0.3, "normalised": 0.5})),
    }
    run = store.start_run(leaderboard="synthetic", n_planned=1)
    fid = store.add_failure(run_id=run, cell_key="k", model="broken", benchmark="synthetic.early",
                            error=RuntimeError("out of <memory> & more"), traceback="Traceback: <frame> line 1")
    return store, ids, fid, evil


def test_html_page_is_self_contained_escaped_and_linked(generator_results, tmp_path):
    from brainbench.registry.catalog import get_leaderboard
    from brainbench.results.board import build_board

    store, ids, fid, evil = _stored(generator_results, tmp_path)
    board = build_board(get_leaderboard("synthetic"), store)
    page = to_html(board, store)
    parsed = _Tags()
    parsed.feed(page)
    assert parsed.tags.count("script") == 1 and evil not in page  # the model name is text, not a script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "out of &lt;memory&gt; &amp; more" in page and "Traceback: &lt;frame&gt; line 1" in page
    assert all(link.startswith("#") or link.startswith("data:") for link in parsed.links), parsed.links
    assert not re.search(r"https?://|@import|url\(", page.replace(board.description, ""))
    for label, rid in ids.items():
        assert f'href="#result-{rid}"' in page and f"result-{rid}" in parsed.ids
    assert f'href="#failure-{fid}"' in page and f"failure-{fid}" in parsed.ids
    section = page[page.index(f'id="result-{ids["good"]}"'):]
    section = section[:section.index("</section>")]
    p = generator_results["synthetic.early"].provenance
    for field in (p.weights_hash, p.benchmark_version, p.metric, p.metric_version, p.ceiling_rule, p.device,
                  p.brainbench_version, p.created):
        assert f"<dd>{html.escape(field)}</dd>" in section
    assert "raw [0.1000, 0.3000], normalised [0.2000, 0.6000]" in section
    good = page[page.index('<tr data-model="good">'):]
    good = good[:good.index("</tr>")]  # the normalised value with its interval, the raw one with its own
    assert '<span class="v">0.4000 [0.2000, 0.6000]</span><span class="r">0.2000 [0.1000, 0.3000]</span>' in good
    assert 'data-value="0.4" data-raw="0.2"' in good
    broken = page[page.index('<tr data-model="broken">'):]
    assert '<td class="failed" data-value="" data-raw=""' in broken[:broken.index("</tr>")]
    out = write_report(page, tmp_path / "board.html")
    assert out.read_text(encoding="utf-8") == page and [p.name for p in tmp_path.iterdir() if "board" in p.name] == [
        "board.html"]


def test_tied_models_share_the_better_rank():
    cells = {(m, "x.one"): Cell(m, "x.one", "ok", v) for m, v in (("p", 0.5), ("q", 0.4), ("r", 0.5))}
    board = Board("t", "", "raw", ["p", "q", "r"], ["x.one"], {"average": ["x.one"]}, "average", "incomplete", cells)
    assert ranks(board) == {"p": 1, "r": 1, "q": 3}
    assert [row[:2] for row in table_rows(board)[1]] == [["1", "p"], ["1", "r"], ["3", "q"]]
