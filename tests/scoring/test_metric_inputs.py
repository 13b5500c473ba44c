"""Bad input to every metric: constant neuroids and constant features give defined scores (0, never NaN),
non-finite features are an error naming the stimuli, and stimuli are matched by id."""

import numpy as np
import pytest
import xarray as xr

import brainbench
from brainbench import SplitSpec
from brainbench.data.assembly import neural_assembly
from brainbench.errors import AssemblyError
from brainbench.scoring.splits import make_splits

METRICS = ["ridge", "rsa", "crsa", "ereg", "ersa", "pls", "linear", "bs_ridge", "bs_ridgecv", "cka", "cka_biased"]
OPTIONS = {"ereg": {"n_components": 64}, "ersa": {"n_components": 64}}  # small projections keep the test fast


def problem(n=40, p=12, q=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    Y = X[:, :4] @ rng.normal(size=(4, q)) + rng.normal(size=(n, q))
    Y[:, 0] = 3.0  # a neuroid that never responds differently
    ids = [f"s{i}" for i in range(n)]
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{j}" for j in range(q)], region="r",
                             subject=["a"] * 3 + ["b"] * 3)
    return X, ids, target, make_splits(SplitSpec(kind="kfold", n_splits=3), n)


def features(X, ids):
    return xr.DataArray(X, dims=("presentation", "neuroid"), coords={
        "stimulus_id": ("presentation", ids), "layer": ("neuroid", ["conv"] * X.shape[1]),
        "unit": ("neuroid", np.arange(X.shape[1]))})


@pytest.mark.parametrize("name", METRICS)
def test_constant_neuroids_and_features_score_zero_not_nan(name):
    X, ids, target, splits = problem()
    metric = brainbench.get_metric(name, **OPTIONS.get(name, {}))
    result = metric(features(X, ids), target, splits)
    assert np.isfinite(result.test.values).all() and np.isfinite(result.train.values).all()
    if result.test.dims[1] == "neuroid":
        assert (result.test.values[:, 0] == 0).all() and (result.test.values[:, 1:] != 0).any()
    flat = metric(features(np.zeros_like(X), ids), target, splits)  # a dead layer: every unit constant
    assert np.isfinite(flat.test.values).all() and np.abs(flat.test.values).max() < 1e-9


@pytest.mark.parametrize("name", METRICS)
def test_non_finite_features_are_an_error_naming_the_stimuli(name):
    X, ids, target, splits = problem()
    X[[3, 7], 2] = [np.nan, np.inf]
    with pytest.raises(AssemblyError, match=r"layer 'conv' are NaN or infinite for 2 of 40 stimuli, e.g. \['s3', 's7'\]"):
        brainbench.get_metric(name, **OPTIONS.get(name, {}))(features(X, ids), target, splits)


def test_neural_nan_is_an_error_at_the_assembly():
    Y = np.ones((4, 2))
    Y[1, 1] = np.nan
    with pytest.raises(AssemblyError, match="1 values are NaN or infinite .*presentation 1, neuroid 1"):
        neural_assembly(Y, stimulus_id=list("abcd"), neuroid_id=["x", "y"], region="r", subject="s")
