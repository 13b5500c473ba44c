r"""Brain-Score's regression metrics and CKA, reproduced so scores compare with its leaderboard.

**Regression** (Schrimpf et al. 2018; ``brainscore_vision.metrics.regression_correlation``): per split,
features -> responses fitted on the training stimuli, and each neuroid's score is the Pearson r of
its predictions on the held-out stimuli. The benchmark score is the median over neuroids in each
split, then the mean over splits (the metrics' protocol sets ``aggregate = "median"``). Regressions:

- ``pls``: ``PLSRegression(n_components=25, scale=False)`` (:func:`brainbench.encoding.regression.pls_fit_predict`,
  with scikit-learn's power iteration and tolerance, so its numbers are Brain-Score's)
- ``linear``: ``LinearRegression()`` (minimum-norm least squares when features > stimuli)
- ``bs_ridge``: ``Ridge(alpha=1)``
- ``bs_ridgecv``: ``RidgeCV(alphas=ALPHA_LIST)``: one alpha for all neuroids, by GCV squared error

A layer is chosen on training stimuli only: the *train* score is the same regression's 3-fold
cross-validated r within the training stimuli (folds of a seeded permutation).

**CKA** (Kornblith et al. 2019), biased and unbiased linear CKA between the features X and a subject's
responses Y over a split's stimuli (:mod:`brainbench.encoding.cka`). Train = CKA on the training stimuli,
test = CKA on the held-out stimuli; one unit per subject. The held-out Gram matrices are kept, so CKA
scores have bootstrap intervals and paired tests (sign flips over subjects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from brainbench import MetricCard, hookimpl
from brainbench.data.assembly import as_numpy, split_scores
from brainbench.checks import check_choice, check_seed
from brainbench.encoding.cka import cka
from brainbench.registry.contracts import Metric, MetricResult, MetricTarget
from brainbench.scoring.held_out import HeldOutGrams, HeldOutPredictions
from brainbench.rdm.rdms import group_labels, subject_groups
from brainbench.encoding.regression import eigenbasis, least_squares, pearson_columns, pls_fit_predict, ridge_path

VERSION = "1"
REVISED = {"pls": "2"}  # 2: scikit-learn's power iteration for the weights (was: exact singular vectors)
PROTOCOL = {"aggregate": "median"}
INNER_FOLDS = 3
ALPHA_LIST = (0.01, 0.1, 0.5, 1.0, *np.linspace(1e1, 1e2, 4, endpoint=False), *np.linspace(1e2, 1e3, 18, endpoint=False),
              *np.linspace(1e3, 1e4, 18, endpoint=False), *np.linspace(1e4, 1e5, 18, endpoint=False),
              *np.linspace(1e5, 1e6, 18, endpoint=False), *np.linspace(1e6, 1e7, 19))  # brainscore_vision 2.4


def _ridge(alphas: tuple[float, ...]) -> Callable:
    def fit_predict(X_train, Y_train, X_test):
        import torch

        mean = X_train.mean(0)
        basis = eigenbasis(X_train - mean, X_test - mean)
        grid = torch.tensor(alphas, dtype=Y_train.dtype, device=Y_train.device)
        return ridge_path(*basis, Y_train, grid, "mse", per_target=False)[2]

    return fit_predict


def _linear(X_train, Y_train, X_test):
    mean = X_train.mean(0)
    return least_squares(*eigenbasis(X_train - mean, X_test - mean), Y_train)


def _pls(X_train, Y_train, X_test):
    return pls_fit_predict(X_train, Y_train, X_test, 25)


REGRESSIONS: dict[str, tuple[Callable, str]] = {
    "pls": (_pls, "PLSRegression(n_components=25, scale=False)"),
    "linear": (_linear, "LinearRegression()"),
    "bs_ridge": (_ridge((1.0,)), "Ridge(alpha=1)"),
    "bs_ridgecv": (_ridge(ALPHA_LIST), "RidgeCV(alphas=Brain-Score's 117 alphas, 0.01..1e7)"),
}


class CrossRegressedCorrelation(Metric):
    """Brain-Score's regression -> Pearson r per neuroid on held-out stimuli; train score by inner 3-fold CV."""

    target = MetricTarget("responses", "neuroid")

    def __init__(self, regression: str, device: str | None = None, seed: int = 0):
        check_choice(regression, "Brain-Score regression", REGRESSIONS)
        seed = check_seed(seed, f"{regression} seed")
        self.fit_predict = REGRESSIONS[regression][0]
        self.card = regression_card(regression)
        self.device, self.seed = device, seed

    def __call__(self, features, target, splits) -> MetricResult:
        import torch

        from brainbench.encoding.align import metric_tensors

        data = metric_tensors(features, target, device=self.device)  # float32 features, float64 (MPS: float32) fits
        device, dtype, Y = data.device, data.dtype, data.Y
        X = data.X.to(dtype)
        train, test, predicted = [], [], []
        for split in splits:
            tr, te = (torch.from_numpy(index).to(device) for index in (split.train, split.test))
            predicted.append(self.fit_predict(X[tr], Y[tr], X[te]))
            test.append(pearson_columns(predicted[-1], Y[te]))
            train.append(self._inner_cv(X[tr], Y[tr]))
        held_out = HeldOutPredictions.from_splits(splits, predicted, [target.values[s.test] for s in splits])
        return MetricResult(split_scores(train, "neuroid", target), split_scores(test, "neuroid", target),
                            held_out=held_out)

    def _inner_cv(self, X, Y):
        """Pearson r of the predictions each training stimulus gets from the other inner folds."""
        import torch

        order = np.random.default_rng(self.seed).permutation(len(X))
        predicted = torch.empty_like(Y)
        for fold in np.array_split(order, INNER_FOLDS):
            fit, out = (torch.from_numpy(rows).to(X.device) for rows in (np.setdiff1d(order, fold), fold))
            predicted[out] = self.fit_predict(X[fit], Y[fit], X[out])
        return pearson_columns(predicted, Y)


def linear_cka(X, Y, unbiased: bool = True) -> float:
    """Linear CKA of ``X`` (n, p) and ``Y`` (n, q) (module docstring); torch tensors, float64."""
    return cka(X @ X.T, Y @ Y.T, unbiased)


class CKA(Metric):
    """Linear CKA between the features and each subject's responses, on each split's training and test stimuli."""

    target = MetricTarget("responses", "subject")  # one score per subject's population: no ceiling

    def __init__(self, unbiased: bool = True, device: str | None = None):
        self.unbiased, self.device = unbiased, device
        self.card = cka_card(unbiased)

    def __call__(self, features, target, splits) -> MetricResult:
        import torch

        from brainbench.encoding.align import metric_tensors

        data = metric_tensors(features, target, device=self.device, features_dtype="float64")
        device, X, Y = data.device, data.X, data.Y
        groups = subject_groups(target)
        masks = [torch.from_numpy(mask).to(device) for mask in groups.values()]

        def grams(index: np.ndarray):
            rows = torch.from_numpy(index).to(device)
            return X[rows] @ X[rows].T, torch.stack([Y[rows][:, mask] @ Y[rows][:, mask].T for mask in masks])

        def scores(K, Ls) -> list[float]:
            return [cka(K, L, self.unbiased) for L in Ls]

        train = [scores(*grams(s.train)) for s in splits]
        test_grams = [grams(s.test) for s in splits]
        labels = group_labels(groups, "subject")
        held_out = HeldOutGrams([s.test for s in splits], [as_numpy(K) for K, _ in test_grams],
                                [as_numpy(Ls) for _, Ls in test_grams], self.unbiased)
        return MetricResult(split_scores(train, "subject", labels),
                            split_scores([scores(*g) for g in test_grams], "subject", labels), held_out=held_out)


def regression_card(name: str) -> MetricCard:
    return MetricCard(name=name, version=REVISED.get(name, VERSION), kind="encoding", protocol=PROTOCOL,
                      description=f"Brain-Score {REGRESSIONS[name][1]}, held-out Pearson r per neuroid, median over "
                                  "neuroids per split (Schrimpf et al. 2018).")


def cka_card(unbiased: bool) -> MetricCard:
    return MetricCard(name="cka" if unbiased else "cka_biased", version=VERSION, kind="population",
                      protocol={"ceiling": "none"},
                      description=f"{'Unbiased' if unbiased else 'Biased'} linear CKA (Kornblith et al. 2019) between "
                                  "features and each subject's responses, on training and held-out stimuli.")


@hookimpl
def register_metrics(register: Any) -> None:
    for name in REGRESSIONS:
        register(regression_card(name), lambda name=name, **options: CrossRegressedCorrelation(name, **options))
    register(cka_card(True), CKA)
    register(cka_card(False), lambda **options: CKA(unbiased=False, **options))
