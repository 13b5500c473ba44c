"""The ridge encoding metric against scikit-learn and scipy on the same data."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.stats import pearsonr
from sklearn.linear_model import RidgeCV

from brainbench import SplitSpec
from brainbench.errors import ConfigError
from brainbench.data.assembly import neural_assembly
from brainbench.plugins.metrics.ridge import ALPHAS, RidgeEncoding
from brainbench.encoding.regression import eigenbasis, kernel_eigenbasis, pearson_columns, ridge_path
from brainbench.scoring.splits import make_splits
from brainbench.testing import check_metric


def data(n, p, q, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ np.diag(np.linspace(3, 0.1, p))
    Y = X @ rng.standard_normal((p, q)) * 0.1 + rng.standard_normal((n, q)) * np.linspace(0.1, 5, q)
    return X, Y


@pytest.mark.parametrize(("n", "p"), [(80, 20), (40, 300)], ids=["samples>features", "features>samples"])
def test_kernel_matches_sklearn_ridgecv_alpha_per_target(n, p):
    X, Y = data(n + 15, p, 12)
    Xtr, Ytr, Xte = X[:n], Y[:n], X[n:]
    alphas = np.logspace(-2, 4, 13)
    mu = Xtr.mean(0)
    K = torch.from_numpy((Xtr - mu) @ (Xtr - mu).T)
    K_test = torch.from_numpy((Xte - mu) @ (Xtr - mu).T)
    best, loo_pred, test_pred = ridge_path(*kernel_eigenbasis(K, K_test), torch.from_numpy(Ytr), torch.from_numpy(alphas))

    ref = RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=True, store_cv_results=True).fit(Xtr, Ytr)
    np.testing.assert_array_equal(alphas[best.numpy()], ref.alpha_)
    np.testing.assert_allclose(test_pred.numpy(), ref.predict(Xte), rtol=1e-6, atol=1e-8)
    # sklearn stores the squared LOO errors of every alpha; ours at the chosen alpha must equal them.
    chosen_sq_err = ref.cv_results_[:, np.arange(12), best.numpy()]
    np.testing.assert_allclose((Ytr - loo_pred.numpy()) ** 2, chosen_sq_err, rtol=1e-6, atol=1e-10)


def test_pearson_columns_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((50, 4))
    ours = pearson_columns(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ours, [pearsonr(a[:, i], b[:, i])[0] for i in range(4)], rtol=1e-12)


def wrap_features(X, ids):
    return xr.DataArray(X, dims=("presentation", "neuroid"), coords={
        "stimulus_id": ("presentation", ids), "unit": ("neuroid", np.arange(X.shape[1])), "layer": ("neuroid", ["l"] * X.shape[1])})


def test_metric_scores_equal_sklearn_pipeline_per_split():
    X, Y = data(100, 30, 5, seed=2)
    ids = [f"s{i}" for i in range(100)]
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{i}" for i in range(5)], region="r", subject="a")
    splits = make_splits(SplitSpec(n_splits=4, seed=0), 100)
    result = RidgeEncoding()(wrap_features(X, ids)[::-1], target, splits)  # reversed rows: aligned by stimulus_id
    for k, split in enumerate(splits):
        Xtr = X[split.train]
        scale = np.trace((Xtr - Xtr.mean(0)) @ (Xtr - Xtr.mean(0)).T) / len(split.train)
        ref = RidgeCV(alphas=np.asarray(ALPHAS) * scale, alpha_per_target=True).fit(Xtr, Y[split.train])
        pred = ref.predict(X[split.test])
        expected = [pearsonr(pred[:, j], Y[split.test, j])[0] for j in range(5)]
        np.testing.assert_allclose(result.test.values[k], expected, rtol=1e-5)
        np.testing.assert_allclose(result.extra["alpha"].values[k] * scale, ref.alpha_, rtol=1e-9)
    assert list(result.test["neuroid_id"].values) == [f"n{i}" for i in range(5)]


def test_float32_and_float64_agree():
    """Stated tolerance: |r32 - r64| <= 5e-3 (float32 eigh can move a near-tied alpha choice)."""
    X, Y = data(60, 200, 4, seed=3)
    ids = [f"s{i}" for i in range(60)]
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=list("abcd"), region="r", subject="a")
    splits = make_splits(SplitSpec(n_splits=3), 60)
    r64 = RidgeEncoding(dtype="float64")(wrap_features(X, ids), target, splits).test.values
    r32 = RidgeEncoding(dtype="float32")(wrap_features(X, ids), target, splits).test.values
    np.testing.assert_allclose(r32, r64, atol=5e-3)
    assert np.abs(r32 - r64).mean() < 1e-3


def test_ridge_passes_the_metric_contract():
    check_metric(RidgeEncoding())


@pytest.mark.parametrize("p", [30, 150], ids=["samples>features", "features>samples"])
def test_kfold_alpha_choice_equals_a_sklearn_grid_search_per_neuroid(p):
    """cv=k: per neuroid, the alpha with the lowest k-fold squared error on the training stimuli (scikit-learn's
    Ridge over the same KFold), refitted on all of them; train score = r of the out-of-fold predictions."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_predict

    X, Y = data(90, p, 4, seed=4)
    ids = [f"s{i}" for i in range(90)]
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=list("abcd"), region="r", subject="a")
    splits = make_splits(SplitSpec(n_splits=3, seed=0), 90)
    result = RidgeEncoding(cv=4, seed=2)(wrap_features(X, ids), target, splits)
    for k, split in enumerate(splits):
        Xtr, Ytr = X[split.train], Y[split.train]
        scale = np.trace((Xtr - Xtr.mean(0)) @ (Xtr - Xtr.mean(0)).T) / len(split.train)
        folds = KFold(4, shuffle=True, random_state=2)
        out_of_fold = np.stack([cross_val_predict(Ridge(alpha=a * scale), Xtr, Ytr, cv=folds) for a in ALPHAS])
        best = ((out_of_fold - Ytr) ** 2).sum(1).argmin(0)
        np.testing.assert_allclose(result.extra["alpha"].values[k], np.asarray(ALPHAS)[best], rtol=1e-12)
        for j in range(4):
            pred = Ridge(alpha=ALPHAS[best[j]] * scale).fit(Xtr, Ytr[:, j]).predict(X[split.test])
            # features enter as float32 (as from a model), hence 1e-6
            assert result.test.values[k, j] == pytest.approx(pearsonr(pred, Y[split.test, j])[0], abs=1e-6)
            assert result.train.values[k, j] == pytest.approx(pearsonr(out_of_fold[best[j], :, j], Ytr[:, j])[0],
                                                              abs=1e-6)
    with pytest.raises(ConfigError, match="'loo' or a number of folds >= 2"):
        RidgeEncoding(cv=1)
