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


def straightforward_kfold(X, Y, folds, alphas):
    """k-fold ridge by the textbook formula, per fold and alpha: dual coefficients (K_fit + alpha I)^-1 (y - mean)
    from features centred on the fold's fit rows (numpy solve, float64); the residual of each as a matrix (m, n)
    acting on y, so squared errors are quadratic forms y^T Q_a y."""
    n = len(X)
    maps = np.zeros((len(alphas), n, n))  # summed B^T B over folds
    residual_maps = []
    for fit, out in folds:
        mu = X[fit].mean(0)
        K, K_out = (X[fit] - mu) @ (X[fit] - mu).T, (X[out] - mu) @ (X[fit] - mu).T
        centre = np.eye(len(fit)) - 1 / len(fit)
        per_alpha = []
        for k, alpha in enumerate(alphas):
            B = np.zeros((len(out), n))
            B[:, fit] = K_out @ np.linalg.solve(K + alpha * np.eye(len(fit)), centre) + 1 / len(fit)
            B[np.arange(len(out)), out] -= 1
            maps[k] += B.T @ B
            per_alpha.append(B)
        residual_maps.append(per_alpha)
    errors = np.einsum("in,anm,im->ai", Y.T, maps, Y.T)
    best = errors.argmin(0)
    out_of_fold = np.empty_like(Y)
    for (fit, out), per_alpha in zip(folds, residual_maps, strict=True):
        for j, a in enumerate(best):
            out_of_fold[out, j] = per_alpha[a][:, fit] @ Y[fit, j]
    return best, out_of_fold, maps


def kfold_bases(X, folds, dtype=torch.float64):
    bases = []
    for fit, out in folds:
        mu = X[fit].mean(0)
        Xf, Xo = (torch.from_numpy(a - mu).to(dtype) for a in (X[fit], X[out]))
        bases.append(kernel_eigenbasis(Xf @ Xf.T, Xo @ Xf.T))
    return bases, [(torch.from_numpy(f), torch.from_numpy(o)) for f, o in folds]


def near_ties(maps, y1, y2, gaps):
    """Targets y1 + t y2 whose squared errors at alphas 0 and 1 differ by ``gap`` relative (negative: alpha 0
    wins): the root of the quadratic y(t)^T (Q_0 - Q_1) y(t), moved by gap / slope."""
    D = maps[0] - maps[1]
    c2, c1, c0 = y2 @ D @ y2, y1 @ D @ y2, y1 @ D @ y1
    t0 = (-c1 + np.sqrt(c1**2 - c0 * c2)) / c2
    y0 = y1 + t0 * y2
    scale, slope = y0 @ maps[0] @ y0, 2 * (c1 + t0 * c2)
    return np.stack([y1 + (t0 + gap * scale / slope) * y2 for gap in gaps], 1)


def test_kfold_fast_path_equals_the_straightforward_formula_near_ties_included(monkeypatch):
    """ridge_kfold's float32 product with rounding intervals chooses float64's alphas, near-ties (relative gaps of
    1e-9 to 1e-6, which float32 cannot resolve) included, and its out-of-fold predictions equal the textbook
    formula's to 1e-9 relative (float64). All float32 (float32 inputs): the same alphas on the well-separated
    targets and predictions within 1e-4 of the responses' scale (near-ties may go either way there)."""
    import brainbench.encoding.regression as regression
    from sklearn.model_selection import KFold

    X, Y = data(60, 200, 30, seed=5)
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    alphas = np.logspace(-1, 4, 8) * np.trace(X @ X.T) / 60
    best, oof, maps = straightforward_kfold(X, Y, folds, alphas)
    assert len(set(best)) >= 4  # the random targets spread over the grid
    gaps = np.array([-1e-6, 1e-6, -1e-7, 1e-7, -1e-8, 1e-8, -1e-9, 1e-9])
    ties = near_ties(maps, Y[:, 0], Y[:, -1], gaps)
    errors = np.einsum("in,anm,im->ai", ties.T, maps, ties.T)
    np.testing.assert_allclose((errors[0] - errors[1]) / errors[0], gaps, rtol=1e-3)  # the gaps are as built
    assert set(errors.argmin(0)) == {0, 1}
    Y = np.concatenate([Y, ties], 1)
    best, oof, _ = straightforward_kfold(X, Y, folds, alphas)

    recomputed = []
    unproven = regression._unproven
    monkeypatch.setattr(regression, "_unproven", lambda *a: recomputed.append(unproven(*a)) or recomputed[-1])
    bases, index = kfold_bases(X, folds)
    fast_best, fast_oof = regression.ridge_kfold(bases, index, torch.from_numpy(Y), torch.from_numpy(alphas))
    np.testing.assert_array_equal(fast_best.numpy(), best)
    np.testing.assert_allclose(fast_oof.numpy(), oof, rtol=1e-9, atol=1e-9 * np.abs(Y).max())
    flagged = set(torch.cat(recomputed).tolist())
    assert set(range(30, 38)) <= flagged and len(flagged - set(range(30, 38))) <= 3  # the ties, and few others
    slow_best, slow_oof = regression.ridge_kfold(bases, index, torch.from_numpy(Y), torch.from_numpy(alphas),
                                                 fast=False)
    np.testing.assert_array_equal(slow_best.numpy(), best)
    np.testing.assert_allclose(slow_oof.numpy(), oof, rtol=1e-9, atol=1e-9 * np.abs(Y).max())

    bases32, _ = kfold_bases(X, folds, torch.float32)
    best32, oof32 = regression.ridge_kfold(bases32, index, torch.from_numpy(Y).float(),
                                           torch.from_numpy(alphas).float())
    np.testing.assert_array_equal(best32.numpy()[:30], best[:30])
    np.testing.assert_allclose(oof32.numpy()[:, :30], oof[:, :30], atol=1e-4 * np.abs(Y).max())


def test_ridge_predictions_at_every_alpha_and_at_the_chosen_ones_equal_sklearn_ridge():
    from sklearn.linear_model import Ridge

    from brainbench.encoding.regression import ridge_predictions

    X, Y = data(50, 120, 4, seed=6)
    mu = X[:40].mean(0)
    basis = eigenbasis(torch.from_numpy(X[:40] - mu), torch.from_numpy(X[40:] - mu))
    alphas = np.array([0.5, 20.0, 900.0])
    every = ridge_predictions(*basis, torch.from_numpy(Y[:40]), torch.from_numpy(alphas)).numpy()
    chosen = np.array([2, 0, 0, 1])
    at_chosen = ridge_predictions(*basis, torch.from_numpy(Y[:40]), torch.from_numpy(alphas),
                                  torch.from_numpy(chosen)).numpy()
    for k, alpha in enumerate(alphas):
        np.testing.assert_allclose(every[k], Ridge(alpha=alpha).fit(X[:40], Y[:40]).predict(X[40:]), rtol=1e-9)
    for j, k in enumerate(chosen):
        np.testing.assert_allclose(at_chosen[:, j], every[k][:, j], rtol=1e-12)


def test_float32_error_intervals_hold_the_float64_errors():
    """_error_interval: the float64 squared error of every alpha and target lies inside the interval built around
    its float32 value, and the interval is narrow (under 1e-3 relative) for these well-conditioned targets."""
    from brainbench.encoding.regression import _error_interval, _fold_errors, ridge_operators

    X, Y = data(80, 300, 200, seed=7)
    fit, out = np.arange(16, 80), np.arange(16)
    mu = X[fit].mean(0)
    basis = kernel_eigenbasis(torch.from_numpy((X[fit] - mu) @ (X[fit] - mu).T),
                              torch.from_numpy((X[out] - mu) @ (X[fit] - mu).T))
    P = ridge_operators(*basis, torch.from_numpy(np.logspace(0, 5, 6)))
    Yt = torch.from_numpy(Y)
    exact = _fold_errors(P, Yt[fit], Yt[out])
    error = _fold_errors(P.float(), Yt[fit].float(), Yt[out].float()).double()
    lower, upper = _error_interval(error, P.flatten(1).norm(dim=1), Yt.norm(dim=0), len(fit), len(out),
                                   torch.float32)
    assert bool((lower <= exact).all()) and bool((exact <= upper).all())
    assert float(((upper - lower) / exact).max()) < 1e-3
    assert float(((error - exact).abs() / exact).max()) > 1e-9  # float32 did round: the interval has work to do


def straightforward_loo_maps(X, alphas):
    """Per alpha, the LOO residual map (n, n) by refitting without each stimulus (closed-form dual ridge on the
    other n - 1, features centred on them), and the quadratic forms Q_a with squared LOO error y^T Q_a y."""
    n = len(X)
    maps = []
    for alpha in alphas:
        L = np.zeros((n, n))
        for i in range(n):
            rest = np.delete(np.arange(n), i)
            mu = X[rest].mean(0)
            K, k = (X[rest] - mu) @ (X[rest] - mu).T, (X[i] - mu) @ (X[rest] - mu).T
            L[i, rest] = k @ np.linalg.solve(K + alpha * np.eye(n - 1), np.eye(n - 1) - 1 / (n - 1)) + 1 / (n - 1)
        maps.append((np.eye(n) - L).T @ (np.eye(n) - L))
    return np.stack(maps)


def test_loo_fast_path_chooses_float64_alphas_near_ties_included():
    """ridge_path's float32 LOO product ("mse") with rounding intervals and a float64 recheck chooses the alphas
    of the refit-per-stimulus formula, eight near-ties (relative gaps 1e-9..1e-6) included, and its LOO and test
    predictions equal the float64 path's to 1e-9 relative."""
    X, Y = data(45, 120, 20, seed=8)
    Xtr, Xte, Ytr = X[:40], X[40:], Y[:40]
    alphas = np.array([0.3, 3.0]) * np.trace(Xtr @ Xtr.T) / 40
    maps = straightforward_loo_maps(Xtr, alphas)
    ties = near_ties(maps, Ytr[:, 0], Ytr[:, -1], [-1e-6, 1e-6, -1e-7, 1e-7, -1e-8, 1e-8, -1e-9, 1e-9])
    Ytr = np.concatenate([Ytr, ties], 1)
    errors = np.einsum("in,anm,im->ai", Ytr.T, maps, Ytr.T)
    assert set(errors.argmin(0)[:20]) == {0, 1}  # both alphas chosen by some random targets
    mu = Xtr.mean(0)
    basis = eigenbasis(torch.from_numpy(Xtr - mu), torch.from_numpy(Xte - mu))
    fast = ridge_path(*basis, torch.from_numpy(Ytr), torch.from_numpy(alphas))
    slow = ridge_path(*basis, torch.from_numpy(Ytr), torch.from_numpy(alphas), fast=False)
    np.testing.assert_array_equal(fast[0].numpy(), errors.argmin(0))
    np.testing.assert_array_equal(slow[0].numpy(), errors.argmin(0))
    for a, b in zip(fast[1:], slow[1:], strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9 * np.abs(Ytr).max())


def test_float32_products_that_round_coarser_turn_the_fast_path_off(monkeypatch):
    """With TF32/bfloat16 matmuls allowed (set_float32_matmul_precision below "highest") the float32 bounds do
    not hold, so ridge_kfold and ridge_path compute in float64 as with fast=False."""
    import brainbench.encoding.regression as regression

    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "medium")
    assert regression._low_precision(torch.zeros(2, 2, dtype=torch.float64), True) == torch.float64
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "highest")
    assert regression._low_precision(torch.zeros(2, 2, dtype=torch.float64), True) == torch.float32
    assert regression._low_precision(torch.zeros(2, 2, dtype=torch.float64), False) == torch.float64
    assert regression._low_precision(torch.zeros(2, 2, dtype=torch.float32), True) == torch.float32


@pytest.mark.parametrize("cv", ["loo", 4])
def test_a_constant_neuroid_takes_the_first_alpha_and_is_predicted_exactly(cv):
    """Every alpha predicts a constant neuroid exactly (a tie the first alpha wins, as before the float32
    product, which would otherwise pick by rounding noise); its predictions are the constant."""
    X, Y = data(48, 90, 3, seed=10)
    Y[:, 1] = 2.5
    ids = [f"s{i}" for i in range(48)]
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=list("abc"), region="r", subject="a")
    splits = make_splits(SplitSpec(n_splits=3, seed=0), 48)
    result = RidgeEncoding(cv=cv)(wrap_features(X, ids), target, splits)
    assert (result.extra["alpha"].values[:, 1] == ALPHAS[0]).all()
    for predicted in result.held_out.predicted:
        np.testing.assert_allclose(predicted[:, 1], 2.5, rtol=1e-12)
