"""MEI grids: each tile is the unit's top image at its place, resized exactly as stated, and bad paths are
refused without writing anything."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import brainbench
from brainbench.errors import ConfigError
from brainbench.interpret.grid import CAPTION, GAP, LABEL, mei_grid
from brainbench.interpret.units import UnitTopImages


def test_tiles_are_the_units_top_images_in_order(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(10, 10, 3), dtype=np.uint8) for _ in range(5)]
    stimuli = brainbench.StimulusSet.from_arrays(arrays, ["a0", "b1", "c2", "d3", "e4"])
    top = UnitTopImages(model="m", layer="l", readout="mean", units=np.array([3, 7]),
                        values=np.array([[2.0, 1.0, 0.5], [9.0, 8.0, 7.0]]), indices=np.array([[4, 0, 2], [1, 3, 0]]),
                        stimulus_ids=[["e4", "a0", "c2"], ["b1", "d3", "a0"]])
    path = mei_grid(top, stimuli, tmp_path / "grid.png", tile=16)
    grid = np.asarray(Image.open(path).convert("RGB"))
    assert grid.shape == (2 * (16 + CAPTION + GAP), LABEL + 3 * (16 + GAP), 3)
    for r, row in enumerate(top.indices):
        for c, index in enumerate(row):
            y, x = r * (16 + CAPTION + GAP), LABEL + c * (16 + GAP)
            want = np.asarray(Image.fromarray(arrays[index]).resize((16, 16), Image.BILINEAR))
            np.testing.assert_array_equal(grid[y:y + 16, x:x + 16], want)


def test_bad_paths_and_foreign_stimuli_write_nothing(tmp_path):
    stimuli = brainbench.StimulusSet.from_arrays([np.zeros((4, 4, 3), np.uint8)] * 2, ["x", "y"])
    top = UnitTopImages(model="m", layer="l", readout="mean", units=np.array([0]), values=np.array([[1.0, 0.0]]),
                        indices=np.array([[0, 1]]), stimulus_ids=[["x", "z"]])
    with pytest.raises(ConfigError, match="ending in .png"):
        mei_grid(top, stimuli, tmp_path / "grid.jpg")
    with pytest.raises(ConfigError, match="stimulus 'z' of these top images is not in the stimulus set"):
        mei_grid(top, stimuli, tmp_path / "grid.png")
    assert list(tmp_path.iterdir()) == []
