"""Regression kernels against scikit-learn: ridge LOO in primal and dual form with the MSE and Pearson
criteria (RidgeCV with alpha_per_target and a scorer), target batching, and PLS (PLSRegression)."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import make_scorer

import brainbench.encoding.regression as regression
from brainbench.encoding.regression import eigenbasis, pls_fit_predict, ridge_path


def data(n, p, q, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ np.diag(np.linspace(3, 0.1, p)) + 1.5
    Y = X @ rng.standard_normal((p, q)) * 0.1 + rng.standard_normal((n, q)) * np.linspace(0.1, 5, q)
    return X, Y


def fit(Xtr, Ytr, Xte, alphas, criterion, per_target=True):
    mu = Xtr.mean(0)
    basis = eigenbasis(torch.from_numpy(Xtr - mu), torch.from_numpy(Xte - mu))
    return [t.numpy() for t in ridge_path(*basis, torch.from_numpy(Ytr), torch.from_numpy(alphas), criterion,
                                          per_target=per_target)]


pearson_scorer = make_scorer(lambda y, p: pearsonr(y, p)[0])


@pytest.mark.parametrize(("n", "p"), [(90, 20), (40, 300)], ids=["primal", "dual"])
@pytest.mark.parametrize("criterion", ["mse", "pearson"])
def test_ridge_path_equals_sklearn_ridgecv(n, p, criterion):
    X, Y = data(n + 20, p, 9)
    alphas = np.logspace(-1, 5, 7)
    best, loo, test = fit(X[:n], Y[:n], X[n:], alphas, criterion)
    ref = RidgeCV(alphas=alphas, alpha_per_target=True, scoring=pearson_scorer if criterion == "pearson" else None)
    ref.fit(X[:n], Y[:n])
    np.testing.assert_array_equal(alphas[best], ref.alpha_)
    np.testing.assert_allclose(test, ref.predict(X[n:]), rtol=1e-6, atol=1e-8)
    i, keep = 3, np.arange(n) != 3  # LOO predictions at the chosen alpha = a refit without that sample
    for j in range(9):
        one = Ridge(alpha=alphas[best[j]]).fit(X[:n][keep], Y[:n][keep, j]).predict(X[i:i + 1])[0]
        assert loo[i, j] == pytest.approx(one, rel=1e-6)


@pytest.mark.parametrize(("criterion", "per_target"), [("pearson", True), ("mse", False)])
def test_target_batches_change_nothing(monkeypatch, criterion, per_target):
    X, Y = data(60, 30, 25, seed=1)
    alphas = np.logspace(-2, 3, 6)
    whole = fit(X[:50], Y[:50], X[50:], alphas, criterion, per_target)
    monkeypatch.setattr(regression, "BATCH_BYTES", 6 * 50 * 8 * 4)  # 4 targets per batch
    batched = fit(X[:50], Y[:50], X[50:], alphas, criterion, per_target)
    for a, b in zip(whole, batched, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    if not per_target:  # one alpha for all, as RidgeCV() chooses it over every target at once
        assert len(set(whole[0])) == 1
        assert alphas[whole[0][0]] == RidgeCV(alphas=alphas).fit(X[:50], Y[:50]).alpha_


def test_a_constant_target_gets_a_defined_alpha_and_constant_predictions():
    X, Y = data(40, 10, 3, seed=2)
    Y[:, 1] = 4.0
    best, loo, test = fit(X[:30], Y[:30], X[30:], np.logspace(-1, 2, 4), "pearson")
    assert best[1] == 0 and np.allclose(test[:, 1], 4.0) and np.allclose(loo[:, 1], 4.0)


@pytest.mark.parametrize(("n", "p", "q", "k"), [(120, 40, 6, 25), (60, 200, 30, 10), (50, 8, 3, 25)])
def test_pls_equals_sklearn_plsregression(n, p, q, k):
    X, Y = data(n + 30, p, q, seed=3)
    args = (torch.from_numpy(X[:n]), torch.from_numpy(Y[:n]), torch.from_numpy(X[n:]), k)
    ours, exact = (pls_fit_predict(*args, algorithm=a).numpy() for a in ("nipals", "svd"))
    ref = PLSRegression(n_components=min(k, p), scale=False).fit(X[:n], Y[:n]).predict(X[n:])
    # nipals: scikit-learn's power iteration, step for step, so equal where it stops short of convergence too
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    # svd: the exact singular vectors, which scikit-learn approaches as its tolerance tightens
    converged = PLSRegression(n_components=min(k, p), scale=False, max_iter=5000, tol=1e-12).fit(X[:n], Y[:n])
    np.testing.assert_allclose(exact, converged.predict(X[n:]), rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    r_ours, r_ref = ([pearsonr(pred[:, j], Y[n:, j])[0] for j in range(q)] for pred in (ours, ref))
    np.testing.assert_allclose(r_ours, r_ref, atol=1e-10)


def test_pls_nipals_equals_sklearn_where_power_iteration_stops_short():
    """Two nearly equal singular values: scikit-learn's iteration stops before the singular vector, and so do we."""
    rng = np.random.default_rng(7)
    n, p, q = 200, 30, 5
    latent = rng.standard_normal((n, 2))
    X = latent @ rng.standard_normal((2, p)) + 0.5 * rng.standard_normal((n, p))
    Y = latent @ np.array([[1.0, 0, 0, 0, 0], [0, 1.01, 0, 0, 0]]) + 0.1 * rng.standard_normal((n, q))
    args = (torch.from_numpy(X[:150]), torch.from_numpy(Y[:150]), torch.from_numpy(X[150:]), 3)
    ref = PLSRegression(n_components=3, scale=False).fit(X[:150], Y[:150]).predict(X[150:])
    ours, exact = (pls_fit_predict(*args, algorithm=a).numpy() for a in ("nipals", "svd"))
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-8)
    assert np.abs(exact - ref).max() > 1e-6  # the exact vectors differ: the default tolerance matters here


def test_feature_statistics_equal_pca_and_counts():
    from sklearn.decomposition import PCA

    from brainbench.encoding.feature_stats import feature_statistics

    rng = np.random.default_rng(7)
    X = np.maximum(rng.standard_normal((50, 30)) @ np.diag(np.linspace(5, 0.1, 30)), 0)  # ReLU: zeros
    stats = feature_statistics(X)
    lam = PCA().fit(X).explained_variance_
    assert stats["effective_dimensionality"] == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-5)
    assert stats["sparsity"] == pytest.approx((X == 0).mean()) and stats["n_features"] == 30
    assert feature_statistics(np.outer(rng.standard_normal(20), rng.standard_normal(8)))["effective_dimensionality"] == pytest.approx(1.0, rel=1e-5)


def test_pls_nipals_starts_from_the_first_target_that_varies_as_sklearn():
    X, Y = data(60, 20, 4, seed=5)
    Y[:, 0] = 3.0  # centred, the first target is zero: scikit-learn starts each component from the next
    ref = PLSRegression(n_components=5, scale=False).fit(X[:45], Y[:45]).predict(X[45:])
    ours = pls_fit_predict(*(torch.from_numpy(a) for a in (X[:45], Y[:45], X[45:])), 5).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


def test_pls_deflates_its_own_copy_and_leaves_the_inputs_as_they_were():
    """The deflation runs in place (one (n, p) copy, not one per component): on the centred copy, never on X_train."""
    X, Y = data(80, 30, 4, seed=11)
    X_train, Y_train, X_test = (torch.from_numpy(a.copy()) for a in (X[:60], Y[:60], X[60:]))
    ours = pls_fit_predict(X_train, Y_train, X_test, 6).numpy()
    np.testing.assert_array_equal(X_train.numpy(), X[:60])
    np.testing.assert_array_equal(Y_train.numpy(), Y[:60])
    np.testing.assert_array_equal(X_test.numpy(), X[60:])
    ref = PLSRegression(n_components=6, scale=False).fit(X[:60], Y[:60]).predict(X[60:])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(pls_fit_predict(X_train, Y_train, X_test, 6).numpy(), ours)  # and again, the same


@pytest.mark.parametrize("criterion", ["mse", "pearson"])
def test_loo_operators_and_the_eigenbasis_form_agree(monkeypatch, criterion):
    """Above OPERATOR_BYTES ridge_path keeps the eigenbasis form: the same alphas and predictions (1e-9)."""
    X, Y = data(70, 40, 12, seed=9)
    alphas = np.logspace(-1, 4, 6)
    operators = fit(X[:60], Y[:60], X[60:], alphas, criterion)
    monkeypatch.setattr(regression, "OPERATOR_BYTES", 0)
    eigenbasis_form = fit(X[:60], Y[:60], X[60:], alphas, criterion)
    np.testing.assert_array_equal(operators[0], eigenbasis_form[0])
    for a, b in zip(operators[1:], eigenbasis_form[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(Y).max())
    ref = RidgeCV(alphas=alphas, alpha_per_target=True, scoring=pearson_scorer if criterion == "pearson" else None)
    np.testing.assert_array_equal(alphas[eigenbasis_form[0]], ref.fit(X[:60], Y[:60]).alpha_)
