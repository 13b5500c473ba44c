r"""Cross-validated ridge encoding: Pearson r per neuroid on held-out stimuli.

Per split, features are centred on the training stimuli and ridge is solved in the dual
(kernel) form, :math:`K = X_c X_c^\top = U \Lambda U^\top`, which is exact for any number of features;
every split's kernels derive from one Gram matrix per layer, and one eigendecomposition serves every
alpha and every target (:func:`brainbench.regression.ridge_path`). Each neuroid takes the alpha
with the lowest LOO squared error (as scikit-learn's ``RidgeCV(alpha_per_target=True)``); its *train* score is the Pearson r of
the LOO predictions, its *test* score the Pearson r of the predictions on the held-out stimuli.
Alphas are relative to the mean eigenvalue :math:`\mathrm{tr}(K)/n`, so one grid fits layers
of any width. The default computes in float64; float32 agrees to 5e-3 in r.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brainbench import MetricCard, hookimpl
from brainbench.contracts import Metric, MetricResult
from brainbench.held_out import HeldOutPredictions
from brainbench.assembly import align_features, split_scores
from brainbench.regression import kernel_eigenbasis, pearson_columns, ridge_path

NAME, VERSION = "ridge", "1"
ALPHAS = tuple(np.logspace(-3, 4, 15))


class RidgeEncoding(Metric):
    """Ridge regression from features to each neuroid, scored by held-out Pearson r."""

    def __init__(self, alphas: Sequence[float] = ALPHAS, device: str | None = None, dtype: str = "float64"):
        self.card = card()
        self.alphas, self.device, self.dtype = tuple(alphas), device, dtype

    def __call__(self, features, target, splits) -> MetricResult:
        import torch

        from brainbench.device import pick_device

        X = align_features(features, target["stimulus_id"].values)
        device, dtype = pick_device(self.device), getattr(torch, self.dtype)
        if device.startswith("mps") and dtype == torch.float64:  # MPS has no float64; float32 is within 5e-3
            dtype = torch.float32
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
        gram = (Xt @ Xt.T).to(dtype)  # one Gram matrix per layer; every split is derived from it
        Y = torch.from_numpy(np.asarray(target.values, dtype=np.float64)).to(device, dtype)
        alphas_rel = torch.tensor(self.alphas, device=device, dtype=dtype)
        train, test, chosen, predicted = [], [], [], []
        for split in splits:
            tr = torch.from_numpy(split.train).to(device)
            te = torch.from_numpy(split.test).to(device)
            row_mean = gram[:, tr].mean(1)  # <x_i, mean of training x>
            grand = row_mean[tr].mean()
            centred = gram[:, tr] - row_mean[:, None] - row_mean[tr][None, :] + grand
            K_train, K_test = centred[tr], centred[te]
            scale = torch.diagonal(K_train).mean().clamp_min(torch.finfo(dtype).tiny)
            best, loo_pred, test_pred = ridge_path(*kernel_eigenbasis(K_train, K_test), Y[tr], alphas_rel * scale)
            train.append(pearson_columns(loo_pred, Y[tr]))
            test.append(pearson_columns(test_pred, Y[te]))
            chosen.append(alphas_rel[best])
            predicted.append(test_pred)
        return MetricResult(train=split_scores(train, "neuroid", target), test=split_scores(test, "neuroid", target),
                            extra={"alpha": split_scores(chosen, "neuroid", target)},
                            held_out=HeldOutPredictions.from_splits(splits, predicted, [target.values[s.test] for s in splits]))


def card() -> MetricCard:
    return MetricCard(
        name=NAME,
        description="Cross-validated ridge (dual form, per-neuroid alpha by LOO), held-out Pearson r per neuroid.",
        version=VERSION,
        kind="encoding",
    )


@hookimpl
def register_metrics(register):
    register(card(), RidgeEncoding)
