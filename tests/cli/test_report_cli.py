"""`brainbench leaderboard show --format ... -o FILE` and `brainbench plot depth|board|scatter` over a real SQLite
store: the values printed are the stored ones, files are written whole, bad paths are refused before any work."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from brainbench.cli.commands import EXIT_USAGE, main
from brainbench.results.store import ResultsStore


@pytest.fixture
def stored(generator_results, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("BRAINBENCH_DB", url)
    store = ResultsStore(url)
    early, late = generator_results["synthetic.early"], generator_results["synthetic.late"]
    store.add(early)
    store.add(late)
    store.add(early.model_copy(update={"model": "weaker", "normalised": 0.25, "raw": 0.1}))
    run = store.start_run(leaderboard="synthetic", n_planned=1)
    store.add_failure(run_id=run, cell_key="k", model="weaker", benchmark="synthetic.late",
                      error=RuntimeError("boom"), traceback="Traceback: boom")
    return early, late


def _cli(*args, code=0):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.output


def test_show_formats(stored, tmp_path):
    early, late = stored
    rows = list(csv.DictReader(io.StringIO(_cli("leaderboard", "synthetic", "--format", "csv"))))
    by = {(r["model"], r["name"]): r for r in rows}
    assert float(by["synthetic_generator", "synthetic.early"]["value"]) == pytest.approx(early.normalised)
    mean = (early.normalised + late.normalised) / 2
    assert float(by["synthetic_generator", "average"]["value"]) == pytest.approx(mean)
    assert by["weaker", "synthetic.late"]["status"] == "failed" and by["weaker", "synthetic.late"]["reason"] == \
        "RuntimeError: boom"
    raw = {(r["model"], r["name"]): r for r in csv.DictReader(io.StringIO(
        _cli("leaderboard", "show", "synthetic", "--format", "csv", "--value", "raw")))}
    assert float(raw["weaker", "synthetic.early"]["value"]) == pytest.approx(0.1)
    report = json.loads(_cli("leaderboard", "synthetic", "--format", "json"))
    assert [m["model"] for m in report["models"]] == ["synthetic_generator", "weaker"]
    assert report["models"][1]["aggregates"][0]["value"] is None
    markdown = _cli("leaderboard", "synthetic", "--format", "markdown")
    assert f"| 1 | synthetic_generator | {(early.normalised + late.normalised) / 2:.4f} |" in markdown
    table = _cli("leaderboard", "synthetic")
    assert table.index("synthetic: Validation leaderboard") < table.index("rank") and "failed" in table
    assert "note: weaker on synthetic.late: failed: RuntimeError: boom" in table
    legacy = json.loads(_cli("leaderboard", "synthetic", "--json"))  # the old records, unchanged
    assert legacy[0]["model"] == "synthetic_generator" and legacy[0]["n"] == 2
    assert legacy[0]["mean"] == pytest.approx((early.normalised + late.normalised) / 2)
    _cli("leaderboard", "synthetic", "--json", "-o", str(tmp_path / "legacy.json"))
    assert json.loads((tmp_path / "legacy.json").read_text()) == legacy
    page = tmp_path / "board.html"
    _cli("leaderboard", "synthetic", "--format", "html", "-o", str(page), "--plot", str(tmp_path / "bars.svg"))
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'href="#failure-1"' in text and "Traceback: boom" in text
    assert "synthetic_generator" in (tmp_path / "bars.svg").read_text()
    _cli("leaderboard", "synthetic", "-o", str(tmp_path / "board.txt"))
    assert "note: weaker on synthetic.late" in (tmp_path / "board.txt").read_text()
    out = _cli("leaderboard", "synthetic", "--format", "html", "-o", str(tmp_path / "no" / "b.html"), code=EXIT_USAGE)
    assert "does not exist" in out and not (tmp_path / "no").exists()
    assert "'xml' is not one of" in _cli("leaderboard", "synthetic", "--format", "xml", code=EXIT_USAGE)


def test_plot_commands(stored, tmp_path):
    from PIL import Image

    depth = tmp_path / "depth.png"
    _cli("plot", "depth", "-m", "synthetic_generator", "-b", "synthetic.*", "-o", str(depth))
    image = Image.open(depth)
    assert image.format == "PNG" and image.size[0] > 500 and image.size[0] > image.size[1]  # two panels side by side
    svg = tmp_path / "board.svg"
    _cli("plot", "board", "synthetic", "--column", "synthetic.late", "-o", str(svg))
    assert "failed" in svg.read_text()  # weaker's failed cell is written, not drawn as a bar
    _cli("plot", "scatter", "synthetic", "synthetic_generator", "weaker", "-o", str(tmp_path / "scatter.svg"))
    assert "synthetic.early" in (tmp_path / "scatter.svg").read_text()
    assert ".pdf is not a format it can write" in _cli("plot", "board", "synthetic", "-o", str(tmp_path / "b.pdf"),
                                                      code=EXIT_USAGE)
    assert "no stored results of models nobody" in _cli("plot", "depth", "-m", "nobody", "-b", "*", "-o",
                                                        str(tmp_path / "d.png"), code=EXIT_USAGE)
    assert "unknown leaderboard 'nope'" in _cli("plot", "board", "nope", "-o", str(svg), code=EXIT_USAGE)
