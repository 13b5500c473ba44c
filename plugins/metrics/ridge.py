r"""Cross-validated ridge encoding: Pearson r per neuroid on held-out stimuli.

Per split, features are centred on the training stimuli and ridge is solved in the dual
(kernel) form, :math:`K = X_c X_c^\top = U \Lambda U^\top`, which is exact for any number of features;
every split's kernels derive from one Gram matrix per layer, and one eigendecomposition serves every
alpha and every target (:mod:`brainbench.encoding.regression`). Each neuroid takes its own alpha, chosen on the
training stimuli by squared error:

- ``cv="loo"`` (default): efficient leave-one-out (GCV), as scikit-learn's ``RidgeCV(alpha_per_target=True)``;
- ``cv=k``: k-fold within the training stimuli (scikit-learn's ``KFold(k, shuffle=True, random_state=seed)``),
  one eigendecomposition per fold; the alpha with the lowest squared error summed over folds, then refitted
  on all training stimuli (as a ``Ridge`` grid search per neuroid).

Its *train* score is the Pearson r of the out-of-sample predictions on the training stimuli (LOO, or
out-of-fold, at its alpha); its *test* score the Pearson r of the predictions on the held-out stimuli.
Alphas are relative to the mean eigenvalue :math:`\mathrm{tr}(K)/n` of the split's training kernel, so one
grid fits layers of any width. The default computes in float64; float32 agrees to 5e-3 in r.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brainbench import MetricCard, hookimpl
from brainbench.data.assembly import split_scores
from brainbench.checks import check_choice, check_positive_numbers, check_seed
from brainbench.registry.contracts import Metric, MetricResult, MetricTarget
from brainbench.errors import ConfigError
from brainbench.scoring.held_out import HeldOutPredictions
from brainbench.encoding.regression import (RIDGE_ALPHAS, kernel_eigenbasis, pearson_columns, ridge_kfold, ridge_path,
                                            ridge_predictions)

NAME, VERSION = "ridge", "1"
ALPHAS = RIDGE_ALPHAS  # the default grid, shared with banded_ridge
DTYPES = ("float64", "float32")  # what the solver may compute in (float32 on MPS, which has no float64)


def _centred(gram, fit):
    """Kernel of every stimulus against the ``fit`` stimuli, with features centred on the ``fit`` stimuli."""
    row_mean = gram[:, fit].mean(1)  # <x_i, mean of the fit set's x>
    return gram[:, fit] - row_mean[:, None] - row_mean[fit][None, :] + row_mean[fit].mean()


class RidgeEncoding(Metric):
    """Ridge regression from features to each neuroid, scored by held-out Pearson r."""

    target = MetricTarget("responses", "neuroid")

    def __init__(self, alphas: Sequence[float] = ALPHAS, cv: int | str = "loo", seed: int = 0,
                 device: str | None = None, dtype: str = "float64"):
        if cv != "loo" and not (isinstance(cv, int) and cv >= 2):
            raise ConfigError(f"ridge cv must be 'loo' or a number of folds >= 2; got {cv!r}")
        alphas = check_positive_numbers(alphas, "ridge alphas")
        seed, dtype = check_seed(seed, "ridge seed"), check_choice(dtype, "ridge dtype", DTYPES)
        self.card = card()
        self.alphas, self.cv, self.seed, self.device, self.dtype = alphas, cv, seed, device, dtype

    def __call__(self, features, target, splits) -> MetricResult:
        import torch

        from brainbench.encoding.align import metric_tensors

        data = metric_tensors(features, target, device=self.device, dtype=self.dtype)  # float32 on MPS: within 5e-3
        device, dtype, Xt, Y = data.device, data.dtype, data.X, data.Y
        gram = (Xt @ Xt.T).to(dtype)  # one Gram matrix per layer; every split is derived from it
        alphas_rel = torch.tensor(self.alphas, device=device, dtype=dtype)
        train, test, chosen, predicted = [], [], [], []
        for split in splits:
            tr = torch.from_numpy(split.train).to(device)
            te = torch.from_numpy(split.test).to(device)
            centred = _centred(gram, tr)
            K_train, K_test = centred[tr], centred[te]
            alphas = alphas_rel * torch.diagonal(K_train).mean().clamp_min(torch.finfo(dtype).tiny)
            basis = kernel_eigenbasis(K_train, K_test)
            if self.cv == "loo":
                best, train_pred, test_pred = ridge_path(*basis, Y[tr], alphas)
            else:
                best, train_pred = self._kfold(gram, tr, Y, alphas)
                test_pred = ridge_predictions(*basis, Y[tr], alphas, best)
            train.append(pearson_columns(train_pred, Y[tr]))
            test.append(pearson_columns(test_pred, Y[te]))
            chosen.append(alphas_rel[best])
            predicted.append(test_pred)
        return MetricResult(train=split_scores(train, "neuroid", target), test=split_scores(test, "neuroid", target),
                            extra={"alpha": split_scores(chosen, "neuroid", target)},
                            held_out=HeldOutPredictions.from_splits(splits, predicted,
                                                                    [target.values[s.test] for s in splits]))

    def _kfold(self, gram, tr, Y, alphas):
        """Per-target alpha index by k-fold squared error within the training stimuli ``tr``, and the out-of-fold
        predictions at it."""
        import torch
        from sklearn.model_selection import KFold

        folds = [(torch.from_numpy(f).to(tr.device), torch.from_numpy(o).to(tr.device))
                 for f, o in KFold(self.cv, shuffle=True, random_state=self.seed).split(np.zeros(len(tr)))]
        bases = []
        for fit, out in folds:  # one eigendecomposition per fold, every alpha
            centred = _centred(gram, tr[fit])
            bases.append(kernel_eigenbasis(centred[tr[fit]], centred[tr[out]]))
        best, out_of_fold = ridge_kfold(bases, folds, Y[tr], alphas)
        return best, out_of_fold


def card() -> MetricCard:
    return MetricCard(
        name=NAME,
        description="Cross-validated ridge (dual form, per-neuroid alpha by LOO or k-fold), held-out Pearson r per "
                    "neuroid.",
        version=VERSION,
        kind="encoding",
    )


@hookimpl
def register_metrics(register):
    register(card(), RidgeEncoding)
