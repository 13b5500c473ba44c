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
            "--n-units", "4", "--baseline-sets", "10", "--distance", "efficientnet_lite0", "--image-size", "32", "-q"]
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
