"""``brainbench interpret`` offline: efficientnet_lite0's units on a folder of probe images, II with its baseline
under efficientnet_lite0's own feature distance (real offline weights), as a table and as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from brainbench.cli.commands import main


@pytest.fixture
def probe(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "probe"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_interpret_prints_ii_with_its_baseline_and_json_per_unit(probe):
    args = ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe", str(probe), "-k", "3",
            "--n-units", "4", "--baseline-sets", "10", "--distance", "efficientnet_lite0-perceptual", "--image-size", "32", "-q", "--no-store"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["k"] == 3 and len(data["units"]) == 4 and data["distance"].startswith("feature distance (efficientnet")
    ii = np.array([u["ii"] for u in data["units"]])
    np.testing.assert_allclose(ii, [1 - u["mean_distance"] for u in data["units"]])
    np.testing.assert_allclose([u["normalised"] for u in data["units"]],
                               (ii - data["baseline_mean"]) / data["baseline_sd"], rtol=1e-9)
    assert data["ii_mean"] == pytest.approx(ii.mean())
    assert all(len(u["top_images"]) == 3 and all(len(s) == 3 and s.isdigit() for s in u["top_images"])
               for u in data["units"])  # ids as written: "007", never 7
    grid = probe.parent / "grid.png"
    table = CliRunner().invoke(main, [*args, "--grid", str(grid)])
    assert table.exit_code == 0 and "random-set baseline" in table.output and "II of 4 units" in table.output
    from brainbench.interpret.grid import CAPTION, GAP, LABEL

    assert Image.open(grid).size == (LABEL + 3 * (96 + GAP), 4 * (96 + CAPTION + GAP))  # 4 units x their 3 MEIs


def test_interpret_refuses_a_grid_it_cannot_write_before_any_work(probe):
    result = CliRunner().invoke(main, ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe",
                                       str(probe), "--grid", str(probe.parent / "grid.jpg"), "-q"])
    assert result.exit_code == 2 and "--grid" in result.output and not (probe.parent / "grid.jpg").exists()


def test_interpret_bad_units_is_a_usage_error(probe):
    result = CliRunner().invoke(main, ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe",
                                       str(probe), "--units", "0,x", "-q"])
    assert result.exit_code == 2 and "--units takes whole numbers" in result.output


def test_interpret_stores_ii_and_interpret_compare_equals_scipy_on_the_stored_units(probe, tmp_path):
    from scipy import stats

    db = f"sqlite:///{tmp_path / 'results.sqlite'}"
    base = ["interpret", "-m", "efficientnet_lite0", "--probe", str(probe), "-k", "3", "--n-units", "6",
            "--baseline-sets", "10", "--distance", "efficientnet_lite0-perceptual", "--image-size", "32", "-q",
            "--db", db]
    ids = []
    for layer in ("_blocks.3", "_blocks.10"):
        out = CliRunner().invoke(main, [*base, "--layer", layer, "--json"])
        assert out.exit_code == 0, out.output
        ids.append(json.loads(out.output)["id"])
    assert ids == [1, 2]
    listed = CliRunner().invoke(main, ["results", "--ii", "--db", db, "--json"])
    rows = json.loads(listed.output)
    assert [(r["id"], r["layer"], r["k"], r["n_units"]) for r in rows] == [(1, "_blocks.3", 3, 6), (2, "_blocks.10", 3, 6)]
    only = CliRunner().invoke(main, ["results", "--ii", "--db", db, "--json", "--layer", "*10"])
    assert [r["id"] for r in json.loads(only.output)] == [2]
    none = CliRunner().invoke(main, ["results", "--ii", "--db", db, "-m", "resnet*"])
    assert none.exit_code == 2 and "no stored II result matches model resnet*" in none.output
    records = [json.loads(CliRunner().invoke(main, ["results", "--ii", "--id", str(i), "--db", db]).output) for i in ids]
    a, b = (np.array(r["ii"]) for r in records)
    assert rows[0]["ii_mean"] == pytest.approx(a.mean()) and records[0]["provenance"]["distance"] == "efficientnet_lite0-perceptual"

    plot = tmp_path / "ii.png"
    out = CliRunner().invoke(main, ["interpret-compare", "1", "2", "--db", db, "--json", "--permutations", "500",
                                    "--plot", str(plot)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    pair = data["pairs"][0]
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert pair["welch_t"] == pytest.approx(welch.statistic) and pair["welch_p"] == pytest.approx(welch.pvalue)
    pooled = np.sqrt((5 * a.var(ddof=1) + 5 * b.var(ddof=1)) / 10)
    assert pair["cohens_d"] == pytest.approx((a.mean() - b.mean()) / pooled)
    assert [g["n"] for g in data["groups"]] == [6, 6] and data["anova"] is None
    assert data["groups"][1]["median"] == pytest.approx(np.median(b))
    assert Image.open(plot).format == "PNG"

    table = CliRunner().invoke(main, ["interpret-compare", "1", "2", "1", "--db", db, "--permutations", "200"])
    assert table.exit_code == 0 and "one-way ANOVA over 3 groups" in table.output
    f = stats.f_oneway(a, b, a)
    assert f"F = {f.statistic:.3f}" in table.output


def test_interpret_compare_refuses_raw_ii_under_different_k_and_missing_ids(probe, tmp_path):
    db = f"sqlite:///{tmp_path / 'results.sqlite'}"
    for k in ("3", "4"):
        out = CliRunner().invoke(main, ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe",
                                        str(probe), "-k", k, "--n-units", "3", "--baseline-sets", "5", "--distance",
                                        "efficientnet_lite0-perceptual", "--image-size", "32", "-q", "--db", db])
        assert out.exit_code == 0, out.output
        assert "stored as II result" in out.output
    out = CliRunner().invoke(main, ["interpret-compare", "1", "2", "--db", db])
    assert out.exit_code == 2 and "differ in k (3, 4)" in out.output and "--normalised" in out.output
    out = CliRunner().invoke(main, ["interpret-compare", "1", "2", "--db", db, "--normalised", "--permutations", "100"])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(main, ["interpret-compare", "1", "9", "--db", db])
    assert out.exit_code == 1 and "no interpretability result with id 9" in out.output


def test_interpret_stores_nothing_when_the_measurement_fails(probe, tmp_path):
    from brainbench.results.store import ResultsStore

    db = f"sqlite:///{tmp_path / 'results.sqlite'}"
    out = CliRunner().invoke(main, ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe",
                                    str(probe), "-k", "13", "-q", "--db", db])
    assert out.exit_code == 2 and "fewer than k = 13" in out.output
    out = CliRunner().invoke(main, ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe",
                                    str(probe), "--units", "4000", "-q", "--db", db, "--distance",
                                    "efficientnet_lite0-perceptual"])
    assert out.exit_code == 2 and "layer '_blocks.3' has 40 channels" in out.output
    assert ResultsStore(db).interpretability_rows() == []


def test_the_default_lpips_offline_without_its_trunk_names_the_file_and_the_offline_distance(probe, tmp_path):
    from brainbench.results.store import ResultsStore

    db = f"sqlite:///{tmp_path / 'results.sqlite'}"
    out = CliRunner().invoke(main, ["interpret", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--probe",
                                    str(probe), "-k", "3", "--n-units", "2", "-q", "--db", db])
    assert out.exit_code == 1, out.output
    text = " ".join(out.output.split())
    assert "alexnet-owt-7be5be79.pth" in text and "'efficientnet_lite0-perceptual'" in text
    assert ResultsStore(db).interpretability_rows() == []
