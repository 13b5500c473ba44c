"""Leaderboards regenerated from stored results, and their plots."""

import numpy as np
import pandas as pd
import pytest

import brainbench
from brainbench.results.plots import plot_layers, plot_leaderboard
from brainbench.results.store import ResultsStore


def test_leaderboard_table_from_the_store(generator_results, tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    early, late = generator_results["synthetic.early"], generator_results["synthetic.late"]
    for result in (early, late):
        store.add(result)
    weaker = late.model_copy(update={"model": "weaker", "normalised": 0.1, "raw": 0.05})
    store.add(weaker)
    stale = early.model_copy(update={"model": "weaker", "normalised": 0.9})
    store.add(stale)
    store.add(stale.model_copy(update={"normalised": 0.3}))  # newest wins
    table = brainbench.leaderboard("synthetic", store)
    assert list(table.index) == ["synthetic_generator", "weaker"]
    assert table.loc["synthetic_generator", "synthetic.early"] == pytest.approx(early.normalised)
    assert table.loc["synthetic_generator", "mean"] == pytest.approx((early.normalised + late.normalised) / 2)
    assert table.loc["weaker", "mean"] == pytest.approx(0.2) and table.loc["weaker", "n"] == 2
    raw = brainbench.leaderboard("synthetic", store, value="raw")
    assert raw.loc["weaker", "synthetic.late"] == pytest.approx(0.05)
    assert brainbench.leaderboard("synthetic", ResultsStore(f"sqlite:///{tmp_path / 'empty.sqlite'}")).empty


def test_plots_are_written(generator_results, tmp_path):
    from PIL import Image

    path = plot_layers(list(generator_results.values()), tmp_path / "layers.png")
    table = pd.DataFrame({"mean": [0.8, 0.5]}, index=["a", "b"])
    bars = plot_leaderboard(table, tmp_path / "board.png", title="t")
    for png in (path, bars):
        image = np.asarray(Image.open(png))
        assert image.shape[0] > 100 and image.std() > 0


def test_unknown_leaderboard():
    with pytest.raises(brainbench.UnknownNameError, match="unknown leaderboard 'synthetc'.*'synthetic'"):
        brainbench.get_leaderboard("synthetc")


def test_random_baselines_over_seeds_stay_apart_on_the_leaderboard(tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    for seed in (0, 1, 2):
        brainbench.score("synthetic_generator", "synthetic.early", weights="random", seed=seed, layers=["block1"],
                         store=store, progress=False)
    table = brainbench.leaderboard("synthetic", store)
    labels = ["synthetic_generator[random]", "synthetic_generator[random:1]", "synthetic_generator[random:2]"]
    assert set(table.index) == set(labels)
    scores = table["synthetic.early"]
    assert scores.nunique() == 3  # three different networks, not one overwritten twice
    assert brainbench.get_model("efficientnet_lite0", seed=5).label == "efficientnet_lite0"  # the seed is no weights
