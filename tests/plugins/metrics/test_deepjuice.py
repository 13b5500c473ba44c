"""The DeepJuice protocol (cRSA, eReg, eRSA) against scikit-learn and scipy run step by step on the same
data, the even/odd split, and per-subject layer selection through score()."""

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import make_scorer
from sklearn.preprocessing import StandardScaler
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

import brainbench
from brainbench import DatasetCard, SplitSpec
from brainbench.data.assembly import neural_assembly
from brainbench.registry.catalog import get_benchmark
from brainbench.registry.contracts import Dataset
from brainbench.errors import ConfigError
from brainbench.plugins.metrics.deepjuice import ALPHAS, CRSA, JL_DIM, EncodingRegression, EncodingRSA
from brainbench.scoring.splits import make_splits
from brainbench.testing import check_metric, tiny_stimulus_set


def problem(n=60, p=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(3, 0.2, p) + 2.0
    Y = X[:, :20] @ rng.standard_normal((20, 8)) * 0.2 + rng.standard_normal((n, 8)) * np.linspace(0.5, 3, 8)
    ids = [f"s{i}" for i in range(n)]
    features = xr.DataArray(X.astype(np.float32), dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids)})
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"v{j}" for j in range(8)], region="OTC",
                             subject=["a"] * 4 + ["b"] * 4)
    return X, Y, features, target, make_splits(SplitSpec(kind="even_odd"), n)


def sklearn_ereg(X, Y, split):
    """DeepJuice's eReg written with scikit-learn: SRP (seed 0), StandardScaler on the train half, RidgeCV by LOO r."""
    Z = SparseRandomProjection(n_components=JL_DIM, random_state=0).fit_transform(X.astype(np.float32))
    scaler = StandardScaler().fit(Z[split.train])
    ridge = RidgeCV(alphas=np.asarray(ALPHAS), alpha_per_target=True, store_cv_results=True,
                    scoring=make_scorer(lambda y, p: pearsonr(y, p)[0]))
    ridge.fit(scaler.transform(Z[split.train]), Y[split.train])
    chosen = np.searchsorted(ALPHAS, ridge.alpha_)
    loo = ridge.cv_results_[:, np.arange(Y.shape[1]), chosen]
    return ridge.alpha_, loo, ridge.predict(scaler.transform(Z[split.test]))


def test_the_protocol_constants_are_deepjuices():
    assert johnson_lindenstrauss_min_dim(1000, eps=0.1) == JL_DIM == 5920
    np.testing.assert_allclose(ALPHAS, [0.1, 1, 10, 100, 1e3, 1e4, 1e5])
    split = make_splits(SplitSpec(kind="even_odd"), 9)[0]
    assert split.train.tolist() == [0, 2, 4, 6, 8] and split.test.tolist() == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="one fixed split"):
        SplitSpec(kind="even_odd", n_splits=5)


def test_ereg_and_ersa_equal_the_sklearn_pipeline():
    X, Y, features, target, splits = problem()
    alphas, loo, pred = sklearn_ereg(X, Y, splits[0])
    tr, te = splits[0].train, splits[0].test
    result = EncodingRegression()(features[::-1], target, splits)  # rows reversed: aligned by stimulus id
    np.testing.assert_allclose(result.extra["alpha"].values[0], alphas)
    np.testing.assert_allclose(result.test.values[0], [pearsonr(pred[:, j], Y[te, j])[0] for j in range(8)], atol=1e-6)
    np.testing.assert_allclose(result.train.values[0], [pearsonr(loo[:, j], Y[tr, j])[0] for j in range(8)], atol=1e-6)

    metric = EncodingRSA()
    metric(features[:, ::2], target, splits)  # another layer first: the brain RDMs it keeps must serve this one too
    kept = metric._brain
    ersa = metric(features, target, splits)
    assert metric._brain is kept
    assert list(ersa.test["subject"].values) == ["a", "b"]
    for u, cols in enumerate((slice(0, 4), slice(4, 8))):
        expected_test = pearsonr(pdist(pred[:, cols], "correlation"), pdist(Y[te, cols], "correlation"))[0]
        expected_train = pearsonr(pdist(loo[:, cols], "correlation"), pdist(Y[tr, cols], "correlation"))[0]
        assert ersa.test.values[0, u] == pytest.approx(expected_test, abs=1e-6)
        assert ersa.train.values[0, u] == pytest.approx(expected_train, abs=1e-6)


def test_crsa_equals_scipy_on_each_half():
    X, Y, features, target, splits = problem(seed=1)
    from brainbench.rdm.distances import rdms_of_responses

    result = CRSA()(features, rdms_of_responses(target), splits)
    for part, index in (("train", splits[0].train), ("test", splits[0].test)):
        for u, cols in enumerate((slice(0, 4), slice(4, 8))):
            model = X.astype(np.float32)[index].astype(np.float64)  # the features are float32
            expected = pearsonr(pdist(model, "correlation"), pdist(Y[index, cols], "correlation"))[0]
            assert getattr(result, part).values[0, u] == pytest.approx(expected, abs=1e-10)


def test_float32_agrees_with_float64():
    _, _, features, target, splits = problem(seed=2)
    r64 = EncodingRegression()(features, target, splits).test.values
    r32 = EncodingRegression(dtype="float32")(features, target, splits).test.values
    np.testing.assert_allclose(r32, r64, atol=5e-3)


def test_the_metrics_pass_the_contract():
    for metric in (EncodingRegression(), EncodingRSA(), CRSA()):
        check_metric(metric)


class TwoSubjects(Dataset):
    """Subject 'a' is the synthetic benchmark's early region (block1), subject 'b' its late region (block3)."""

    def __init__(self):
        self.card = DatasetCard(name="twosubjects", species="none", recording="synthetic", regions=["all"],
                                needs_download=False)

    @property
    def synthetic(self):  # not in __init__: the fixture builds one to read its card while datasets register
        return brainbench.get_dataset("synthetic")

    def stimulus_set(self):
        return self.synthetic.stimulus_set()

    def assembly(self, region=None, subjects=None):
        early = self.synthetic.assembly("early", ["s1"])
        late = self.synthetic.assembly("late", ["s1"])
        parts = [part.assign_coords(subject=("neuroid", [name] * part.sizes["neuroid"]), region=("neuroid", ["all"] * part.sizes["neuroid"]),
                                    neuroid_id=("neuroid", [f"{name}{i}" for i in range(part.sizes["neuroid"])]))
                 for name, part in (("a", early), ("b", late))]
        return xr.concat(parts, "neuroid")


def test_derived_benchmarks_take_the_protocol_and_choose_layers_per_subject(dataset_plugin):
    base = {"dataset": "twosubjects", "region": "all", "metric": "ridge", "ceiling": "none", "version": "1"}
    dataset_plugin(TwoSubjects, {**base, "id": "twosubjects.all", "metric_options": {"alphas": [1.0, 10.0]}},
                   {**base, "id": "twosubjects.odd", "metric_options": {"nonsense": 1}})
    with pytest.raises(ConfigError, match=r"metric 'ridge' does not take the options \['nonsense'\]"):
        brainbench.score("synthetic_generator", "twosubjects.odd", progress=False, layers=["block1"])
    spec = get_benchmark("twosubjects.all-ereg")
    assert spec.splits.kind == "even_odd" and spec.layer_selection == "subject" and spec.metric_options == {}
    result = brainbench.score("synthetic_generator", "twosubjects.all-ereg", progress=False, layers=["block1", "block3"])
    assert {s: v.layer for s, v in result.subjects.items()} == {"a": "block1", "b": "block3"}
    assert any("chosen per subject" in note for note in result.notes)
    assert result.raw == pytest.approx(np.mean([v.raw for v in result.subjects.values()]))
    one_layer = brainbench.score("synthetic_generator", "twosubjects.all", progress=False, layers=["block1", "block3"])
    assert len({v.layer for v in one_layer.subjects.values()}) == 1  # Brain-Score style: one layer for all


def test_ereg_refuses_features_reduced_at_extraction():
    _, _, features, target, splits = problem()
    features.attrs["reduction"] = "srp:64"
    with pytest.raises(ConfigError, match="already reduced at extraction \\(srp:64\\): score without --reduce"):
        EncodingRegression()(features, target, splits)
