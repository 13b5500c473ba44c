r"""Banded ridge through himalaya (Dupré la Tour et al. 2022): one regularisation per feature band.

A candidate that combines layers (``--layers "layer3+layer4"``, :func:`brainbench.data.assembly.combine_layers`)
has one band per layer (the features' ``layer`` coord); a single layer is one band, i.e. plain ridge.
Per split, features and responses are centred on the training stimuli and each band is scaled so that
its training kernel :math:`X_i X_i^\top` has mean eigenvalue 1 (bands of any width start level); then,
per neuroid,

.. math::

    \min_{b}\ \Big\lVert Y - \sum_i X_i b_i \Big\rVert^2 + \sum_i \frac{\alpha}{\gamma_i} \lVert b_i \rVert^2,
    \qquad \gamma \in \Delta^{m-1},

with the band shares :math:`\gamma` drawn on the simplex and :math:`\alpha` from a grid, chosen by the
mean k-fold Pearson r within the training stimuli (himalaya's random search: ``BandedRidgeCV`` when
stimuli >= features, else the same problem in kernel form, ``MultipleKernelRidgeCV`` on the bands' linear
kernels). As the shares sum to 1, the combined kernel has mean eigenvalue 1 and the alphas are relative to
it, as :mod:`ridge`'s are.

*Train* score: the chosen hyperparameters' mean k-fold r (himalaya's ``cv_scores_``); *test* score: the
Pearson r of the held-out predictions. ``extra`` holds each neuroid's alpha and band shares per split.
himalaya is an optional dependency (``pip install 'brainbench[compare]'``); on CUDA it runs on its
``torch_cuda`` backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brainbench import MetricCard, hookimpl
from brainbench.data.assembly import align_features, split_scores
from brainbench.checks import check_positive_numbers, check_seed
from brainbench.registry.contracts import Metric, MetricResult, MetricTarget
from brainbench.errors import ConfigError
from brainbench.scoring.held_out import HeldOutPredictions
from brainbench.encoding.regression import RIDGE_ALPHAS, pearson_columns

NAME, VERSION = "banded_ridge", "1"


def _himalaya():
    try:
        import himalaya  # noqa: F401
    except ImportError:
        raise ConfigError("metric 'banded_ridge' runs on himalaya, which is not installed; "
                          "pip install 'brainbench[compare]' (or pip install himalaya)") from None
    from himalaya import backend, kernel_ridge, ridge, scoring

    return backend, kernel_ridge, ridge, scoring


def bands_of(features) -> dict[str, np.ndarray]:
    """Band -> its feature columns: the features' ``layer`` coord, bands in order of first appearance."""
    if "layer" not in features.coords:
        return {"features": np.arange(features.sizes["neuroid"])}
    labels = features["layer"].values.astype(str)
    return {band: np.flatnonzero(labels == band) for band in dict.fromkeys(labels.tolist())}


class BandedRidge(Metric):
    """himalaya's banded ridge per split, Pearson r per neuroid on held-out stimuli."""

    target = MetricTarget("responses", "neuroid")

    def __init__(self, alphas: Sequence[float] = RIDGE_ALPHAS, n_iter: int = 20, cv: int = 5, seed: int = 0,
                 device: str | None = None):
        if not (isinstance(cv, int) and cv >= 2):
            raise ConfigError(f"banded_ridge cv must be a number of folds >= 2; got {cv!r}")
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
            raise ConfigError(f"banded_ridge n_iter must be a whole number >= 1; got {n_iter!r}")
        alphas, seed = check_positive_numbers(alphas, "banded_ridge alphas"), check_seed(seed, "banded_ridge seed")
        self.card = card()
        self.alphas, self.n_iter, self.cv, self.seed, self.device = alphas, n_iter, cv, seed, device

    def __call__(self, features, target, splits) -> MetricResult:
        from brainbench.device import pick_device

        himalaya = _himalaya()
        backend_module = himalaya[0]
        X = align_features(features, target["stimulus_id"].values).reshape(target.sizes["presentation"], -1)
        bands = bands_of(features)
        Y = np.asarray(target.values, dtype=np.float64)
        previous = backend_module.get_backend().name
        backend = backend_module.set_backend("torch_cuda" if pick_device(self.device).startswith("cuda") else "numpy")
        try:
            fits = [self._fit(himalaya, backend, X, Y, list(bands.values()), split) for split in splits]
        finally:
            backend_module.set_backend(previous)
        train, test, predicted, alpha, shares = zip(*fits, strict=True)
        extra = {"alpha": split_scores(alpha, "neuroid", target)}
        for i, band in enumerate(bands):
            extra[f"share:{band}"] = split_scores([s[i] for s in shares], "neuroid", target)
        return MetricResult(train=split_scores(train, "neuroid", target), test=split_scores(test, "neuroid", target),
                            extra=extra, held_out=HeldOutPredictions.from_splits(splits, list(predicted),
                                                                                 [Y[s.test] for s in splits]))

    def _fit(self, himalaya, backend, X, Y, bands, split):
        import torch
        from sklearn.model_selection import KFold

        _, kernel_ridge, ridge, scoring = himalaya
        Z = X - X[split.train].mean(0)
        for band in bands:  # each band's training kernel gets mean eigenvalue 1
            Z[:, band] /= max(np.sqrt((Z[np.ix_(split.train, band)] ** 2).sum() / len(split.train)), np.finfo(float).tiny)
        y_mean = Y[split.train].mean(0)
        n_iter = self.n_iter if len(bands) > 1 else 1  # one band has one share: plain ridge
        params = {"n_iter": n_iter, "alphas": np.asarray(self.alphas),
                  "score_func": scoring.correlation_score, "progress_bar": False}
        options = {"solver_params": params, "cv": KFold(self.cv, shuffle=True, random_state=self.seed),
                   "random_state": self.seed, "fit_intercept": False}
        to = lambda a: backend.asarray(np.ascontiguousarray(a))  # noqa: E731
        Z_train, Z_test = Z[split.train], Z[split.test]
        train_parts, test_parts = [to(Z_train[:, b]) for b in bands], [to(Z_test[:, b]) for b in bands]
        if len(split.train) >= X.shape[1]:
            model = ridge.BandedRidgeCV(groups="input", **options)
            model.fit(train_parts, to(Y[split.train] - y_mean))
            prediction = model.predict(test_parts)
        else:
            model = kernel_ridge.MultipleKernelRidgeCV(kernels="precomputed", **options)
            model.fit(backend.stack([p @ p.T for p in train_parts]), to(Y[split.train] - y_mean))
            prediction = model.predict(backend.stack([q @ p.T for q, p in zip(test_parts, train_parts, strict=True)]))
        predicted = backend.to_numpy(prediction) + y_mean
        alpha = backend.to_numpy(model.best_alphas_)
        shares = np.exp(backend.to_numpy(model.deltas_)) * alpha  # gamma_i = alpha exp(delta_i), summing to 1
        train_r = backend.to_numpy(model.cv_scores_).max(0)
        test_r = pearson_columns(torch.from_numpy(predicted), torch.from_numpy(Y[split.test]))
        return train_r, test_r, predicted, alpha, shares


def card() -> MetricCard:
    return MetricCard(name=NAME, version=VERSION, kind="encoding",
                      description="Banded ridge through himalaya: one regularisation per band (each layer of a combined "
                                  "candidate 'a+b'), random search on k-fold r, held-out Pearson r per neuroid.")


@hookimpl
def register_metrics(register):
    register(card(), BandedRidge)
