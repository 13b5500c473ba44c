"""Brain-Score's regressions (PLS, linear, Ridge, RidgeCV) against scikit-learn split by split, CKA against
its closed forms, and the median-over-neuroids protocol through score()."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.stats import pearsonr
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV

import brainbench
from brainbench import SplitSpec
from brainbench.data.assembly import neural_assembly
from brainbench.registry.catalog import get_benchmark
from brainbench.plugins.metrics.brainscore import ALPHA_LIST, CKA, INNER_FOLDS, CrossRegressedCorrelation, linear_cka
from brainbench.scoring.splits import make_splits
from brainbench.scoring.targets import prepare_target
from brainbench.testing import check_metric

REFERENCES = {
    "pls": lambda: PLSRegression(n_components=25, scale=False),  # Brain-Score's, with scikit-learn's default tolerance
    "linear": LinearRegression,
    "bs_ridge": lambda: Ridge(alpha=1),
    "bs_ridgecv": lambda: RidgeCV(alphas=ALPHA_LIST),
}


def problem(n=80, p=40, q=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(4, 0.3, p) + 1.0
    Y = X[:, :10] @ rng.standard_normal((10, q)) * 0.3 + rng.standard_normal((n, q)) * np.linspace(0.5, 4, q)
    ids = [f"s{i}" for i in range(n)]
    features = xr.DataArray(X, dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids)})
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{j}" for j in range(q)], region="IT",
                             subject=["m1"] * (q // 2) + ["m2"] * (q - q // 2))
    return X, Y, features, target


@pytest.mark.parametrize("name", list(REFERENCES))
@pytest.mark.parametrize("p", [40, 150], ids=["samples>features", "features>samples"])
def test_held_out_scores_equal_sklearn(name, p):
    X, Y, features, target = problem(p=p)
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=3, test_size=0.2, seed=1), len(X))
    result = CrossRegressedCorrelation(name)(features[::-1], target, splits)  # aligned by id, not position
    X = X.astype(np.float32).astype(np.float64)  # features enter the metric as float32 (as from a model)
    for k, split in enumerate(splits):
        pred = REFERENCES[name]().fit(X[split.train], Y[split.train]).predict(X[split.test])
        expected = [pearsonr(pred[:, j], Y[split.test, j])[0] for j in range(Y.shape[1])]
        np.testing.assert_allclose(result.test.values[k], expected, atol=1e-8)


def test_train_score_is_inner_cross_validated_on_training_stimuli_only():
    X, Y, features, target = problem()
    split = make_splits(SplitSpec(kind="shuffle", n_splits=2, test_size=0.25, seed=0), len(X))[:1]
    result = CrossRegressedCorrelation("bs_ridge")(features, target, split)
    Xtr, Ytr = X[split[0].train], Y[split[0].train]
    predicted = np.empty_like(Ytr)
    for fold in np.array_split(np.random.default_rng(0).permutation(len(Xtr)), INNER_FOLDS):
        rest = np.setdiff1d(np.arange(len(Xtr)), fold)
        predicted[fold] = Ridge(alpha=1).fit(Xtr[rest], Ytr[rest]).predict(Xtr[fold])
    np.testing.assert_allclose(result.train.values[0], [pearsonr(predicted[:, j], Ytr[:, j])[0] for j in range(6)], atol=1e-10)


def hsic_by_definition(K, L, unbiased):
    n = len(K)
    if not unbiased:
        H = np.eye(n) - np.ones((n, n)) / n
        return np.trace(K @ H @ L @ H)
    K, L = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(K @ L) + one @ K @ one * (one @ L @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ K @ L @ one) / (n * (n - 3))


@pytest.mark.parametrize("unbiased", [True, False])
def test_cka_equals_its_closed_form_and_is_invariant(unbiased):
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((30, 12)) + 2, rng.standard_normal((30, 7))
    Y[:, :3] += X[:, :3]
    K, L = X @ X.T, Y @ Y.T
    expected = hsic_by_definition(K, L, unbiased) / np.sqrt(hsic_by_definition(K, K, unbiased) * hsic_by_definition(L, L, unbiased))
    t = torch.from_numpy
    assert linear_cka(t(X), t(Y), unbiased) == pytest.approx(expected, abs=1e-12)
    Q = np.linalg.qr(rng.standard_normal((12, 12)))[0]
    assert linear_cka(t(X), t(3 * X @ Q), unbiased) == pytest.approx(1.0, abs=1e-12)  # rotation and scale


def test_unbiased_cka_of_unrelated_data_is_near_zero_where_biased_is_not():
    rng = np.random.default_rng(4)
    pairs = [(torch.from_numpy(rng.standard_normal((40, 200))), torch.from_numpy(rng.standard_normal((40, 200)))) for _ in range(10)]
    assert abs(np.mean([linear_cka(x, y, True) for x, y in pairs])) < 0.02
    assert np.mean([linear_cka(x, y, False) for x, y in pairs]) > 0.5  # wide layers look similar to anything


def test_cka_metric_scores_each_subject_on_each_split():
    X, Y, features, target = problem()
    splits = make_splits(SplitSpec(kind="kfold", n_splits=4), len(X))
    result = CKA()(features, target, splits)
    assert result.test.dims == ("split", "subject") and list(result.test["subject"].values) == ["m1", "m2"]
    t = torch.from_numpy
    assert result.test.values[2, 1] == pytest.approx(linear_cka(t(X[splits[2].test]), t(Y[splits[2].test][:, 3:])))


def test_the_metrics_pass_the_contract():
    for metric in (CrossRegressedCorrelation("pls"), CrossRegressedCorrelation("linear"), CKA(), CKA(unbiased=False)):
        check_metric(metric)


def test_derived_benchmarks_take_brainscores_protocol():
    spec = get_benchmark("majajhong2015.IT-pls")
    assert spec.aggregate == "median" and spec.splits.kind == "shuffle" and spec.splits.stratify_by == "object_name"
    assert get_benchmark("majajhong2015.IT-cka").ceiling == "none"


def test_score_is_the_mean_over_splits_of_the_median_over_neuroids():
    result = brainbench.score("synthetic_generator", "synthetic.early-bs_ridge", layers=["block1"], progress=False)
    spec = get_benchmark("synthetic.early-bs_ridge")
    dataset = brainbench.get_dataset("synthetic")
    metric = CrossRegressedCorrelation("bs_ridge")
    target = prepare_target(spec, dataset, dataset.stimulus_set(), metric)
    splits = make_splits(spec.splits, len(target.ids))
    features = brainbench.get_model("synthetic_generator").extract(dataset.stimulus_set().subset(target.ids), ["block1"],
                                                                    progress=False)["block1"]
    scores = metric(features, target.data, splits).test
    per_split = []
    for subject, score in result.subjects.items():
        mine = scores.values[:, scores["subject"].values == subject]
        per_split.append(np.median(mine, axis=1))
        assert score.raw == pytest.approx(np.mean(np.median(mine, axis=1)), abs=1e-9)
        assert score.raw != pytest.approx(mine.mean(), abs=1e-6)
    # Brain-Score's error: standard_error_of_the_mean = xarray std (ddof 0) over splits / sqrt(splits)
    over_subjects = xr.DataArray(np.mean(per_split, axis=0), dims="split")
    assert result.split_error == pytest.approx(float(over_subjects.std("split")) / np.sqrt(len(splits)), rel=1e-9)
