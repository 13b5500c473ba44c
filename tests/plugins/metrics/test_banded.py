"""Banded ridge (himalaya) on combined layers: equal to himalaya's BandedRidgeCV run by hand, finds the
informative band, and combined candidates ``a+b`` through the scorer."""

import sys

import numpy as np
import pytest
from scipy.stats import pearsonr

import brainbench
from brainbench import SplitSpec
from brainbench.data.assembly import combine_layers, neural_assembly
from brainbench.errors import ConfigError
from brainbench.plugins.metrics.banded import BandedRidge
from brainbench.plugins.metrics.ridge import ALPHAS, RidgeEncoding
from brainbench.scoring.splits import make_splits
from brainbench.testing import check_metric, feature_assembly

pytest.importorskip("himalaya")


def two_bands(n, p_signal, p_noise, q=6, seed=0):
    """Responses driven by band ``a``; band ``b`` is noise, with more features and a larger scale."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    a, b = rng.standard_normal((n, p_signal)), 3 * rng.standard_normal((n, p_noise))
    Y = a @ rng.standard_normal((p_signal, q)) + 2 * rng.standard_normal((n, q))
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{i}" for i in range(q)], region="r", subject="x")
    return combine_layers([feature_assembly(a, ids, "a"), feature_assembly(b, ids, "b")]), target


def test_combined_layers_keep_each_feature_s_layer():
    features, _ = two_bands(30, 4, 7)
    assert features.attrs["layer"] == "a+b" and features.shape == (30, 11)
    assert list(features["layer"].values) == ["a"] * 4 + ["b"] * 7


@pytest.mark.parametrize(("n", "p_noise"), [(90, 20), (60, 200)], ids=["primal", "kernel"])
def test_equals_himalaya_banded_ridge_run_by_hand(n, p_noise):
    from himalaya.ridge import BandedRidgeCV
    from himalaya.scoring import correlation_score
    from sklearn.model_selection import KFold

    features, target = two_bands(n, 8, p_noise)
    splits = make_splits(SplitSpec(kind="kfold", n_splits=3, seed=0), n)
    result = BandedRidge(n_iter=10, seed=3)(features, target, splits)
    X, Y = features.values.astype(float), target.values
    for k, split in enumerate(splits):
        Z = X - X[split.train].mean(0)
        parts = [Z[:, :8], Z[:, 8:]]
        parts = [p / np.sqrt((p[split.train] ** 2).sum() / len(split.train)) for p in parts]
        ref = BandedRidgeCV(groups="input", cv=KFold(5, shuffle=True, random_state=3), random_state=3,
                            solver_params={"n_iter": 10, "alphas": np.asarray(ALPHAS), "progress_bar": False,
                                           "score_func": correlation_score, "warn": False})
        ref.fit([p[split.train] for p in parts], Y[split.train] - Y[split.train].mean(0))
        predicted = ref.predict([p[split.test] for p in parts]) + Y[split.train].mean(0)
        expected = [pearsonr(predicted[:, j], Y[split.test, j])[0] for j in range(Y.shape[1])]
        np.testing.assert_allclose(result.test.values[k], expected, atol=1e-6)
        np.testing.assert_allclose(result.train.values[k], ref.cv_scores_.max(0), atol=1e-6)
        np.testing.assert_allclose(result.extra["alpha"].values[k], ref.best_alphas_, rtol=1e-6)
    shares = result.extra["share:a"].values + result.extra["share:b"].values
    np.testing.assert_allclose(shares, 1, atol=1e-9)


def test_finds_the_informative_band_where_one_alpha_for_both_cannot():
    features, target = two_bands(150, 10, 400, seed=1)
    splits = make_splits(SplitSpec(kind="kfold", n_splits=3, seed=0), 150)
    banded = BandedRidge(n_iter=30)(features, target, splits)
    assert np.median(banded.extra["share:a"].values) > 0.9
    joint = RidgeEncoding()(features, target, splits)  # one alpha for the concatenated bands
    assert banded.test.values.mean() > joint.test.values.mean() + 0.1
    check_metric(BandedRidge(n_iter=5))


def test_combinations_are_candidates_beside_their_parts():
    result = brainbench.score("synthetic_generator", "synthetic.late-banded_ridge", layers=["block1+block3"],
                              progress=False)
    assert list(result.layers) == ["block1", "block3", "block1+block3"]
    both, best_part = result.layers["block1+block3"], result.layers["block3"]
    assert both.n_features == result.layers["block1"].n_features + best_part.n_features
    assert both.test > result.layers["block1"].test + 0.2 and abs(both.test - best_part.test) < 0.05


def test_clear_errors(monkeypatch):
    with pytest.raises(ConfigError, match="number of folds >= 2"):
        BandedRidge(cv=1)
    features, target = two_bands(30, 3, 3)
    monkeypatch.setitem(sys.modules, "himalaya", None)
    with pytest.raises(ConfigError, match=r"pip install 'brainbench\[compare\]'"):
        BandedRidge()(features, target, make_splits(SplitSpec(n_splits=3), 30))
