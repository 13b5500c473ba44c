"""The figures' plotted data against the results and boards they draw: score by relative layer depth per region,
the leaderboard's bars with intervals (failed and missing written, never drawn as zero), model against model."""

import matplotlib
import numpy as np
import pytest

from brainbench.errors import ConfigError
from brainbench.results.plots import depth_of, plot_board, plot_depth, plot_scatter, region_of, save_figure

from helpers.boards import hand_board

matplotlib.use("Agg")


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_depth_plot_draws_each_layer_at_its_relative_depth(generator_results, tmp_path):
    early, late = generator_results["synthetic.early"], generator_results["synthetic.late"]
    assert region_of("synthetic.early") == "early" and region_of("nowhere.V4-pls") == "V4-pls"
    names = list(early.layers)
    assert depth_of(early) == {n: i / (len(names) - 1) for i, n in enumerate(names)}
    order = ["stem", *names, "head"]  # the model's full layer order: the scored layers sit inside it
    assert depth_of(early, order) == {n: (i + 1) / (len(order) - 1) for i, n in enumerate(names)}
    combined = early.model_copy(update={"layers": {**early.layers, f"{names[0]}+{names[-1]}": early.layers[names[0]]}})
    assert depth_of(combined) == depth_of(early)  # a combination of layers has no single depth
    fig = plot_depth([combined])
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == len(names)
    _close(fig)
    with pytest.raises(ConfigError, match="not in the layer order given"):
        depth_of(early, names[:1])
    other = early.model_copy(update={"model": "other $x$"})  # a $ is text, not mathtext
    fig = plot_depth([early, other, late])
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["early", "late"]  # a panel per region
    lines = axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["synthetic_generator", r"other \$x\$"]
    np.testing.assert_allclose(lines[0].get_xdata(), [i / (len(names) - 1) for i in range(len(names))])
    np.testing.assert_allclose(lines[0].get_ydata(), [early.layers[n].test for n in names])
    chosen = axes[0].collections[0].get_offsets()  # the chosen layer, circled
    np.testing.assert_allclose(chosen, [[names.index(early.layer) / (len(names) - 1), early.layers[early.layer].test]])
    late_line = axes[1].get_lines()[0]
    np.testing.assert_allclose(late_line.get_ydata(), [late.layers[n].test for n in late.layers])
    train = plot_depth([early], split="train")
    np.testing.assert_allclose(train.axes[0].get_lines()[0].get_ydata(), [early.layers[n].train for n in names])
    assert save_figure(fig, tmp_path / "depth.svg").read_text().startswith("<?xml")
    _close(fig), _close(train)
    with pytest.raises(ConfigError, match="no results to plot"):
        plot_depth([])


def _bars(ax):
    """(y, width) of each bar, bottom-up."""
    return sorted((round(p.get_y() + p.get_height() / 2), p.get_width()) for p in ax.patches)


def test_board_bars_leave_failed_and_missing_unfilled():
    board = hand_board()
    fig = plot_board(board)  # root: only a has one (0.65); b and c are written as missing, not drawn as zero
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["c", "b", "a"]  # bottom-up: the best on top
    assert _bars(ax) == [(2, pytest.approx(0.65))]
    assert {t.get_text().strip() for t in ax.texts} >= {"missing"}
    _close(fig)
    fig = plot_board(board, "x.one")  # a: 0.6 in [0.52, 0.7]; b: 0.5 stale; c: untrusted, no bar
    ax = fig.axes[0]
    assert _bars(ax) == [(1, pytest.approx(0.5)), (2, pytest.approx(0.6))]
    segments = [s for c in ax.collections for s in c.get_segments()]
    np.testing.assert_allclose(segments, [[[0.52, 2], [0.7, 2]]])  # a's interval; b has none stored
    texts = [t.get_text().strip() for t in ax.texts]
    assert "untrusted" in texts and "0.500 (stale)" in texts
    _close(fig)
    fig = plot_board(board, "x.two")
    assert "failed" in [t.get_text().strip() for t in fig.axes[0].texts] and _bars(fig.axes[0]) == [
        (2, pytest.approx(0.4))]
    _close(fig)
    with pytest.raises(ConfigError, match="'nope' is neither a node .*X.* nor a benchmark .*x.one"):
        plot_board(board, "nope")


def test_scatter_of_two_models_over_their_common_benchmarks():
    fig = plot_scatter(hand_board(), "a", "b")  # common valued benchmarks: x.one (0.6, 0.5 stale), y.three (0.8, 0.9)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[0.6, 0.5], [0.8, 0.9]])
    assert [t.get_text() for t in ax.texts] == ["x.one", "y.three"]
    identity = next(line for line in ax.get_lines() if line.get_label() == "identity")
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    assert identity.get_xdata()[0] <= 0 and identity.get_xdata()[1] >= 0.9
    _close(fig)
    with pytest.raises(ConfigError, match="model 'z' has no cell on leaderboard 'hand'; its models: a, b, c"):
        plot_scatter(hand_board(), "a", "z")
    with pytest.raises(ConfigError, match="a and c have no benchmark"):
        plot_scatter(hand_board(), "a", "c")
