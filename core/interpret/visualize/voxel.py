r"""An encoding-model voxel as a feature-visualisation objective: what a fitted encoding model says one neuroid of a
benchmark wants to see.

:func:`fit_voxel` fits ridge regression from a layer's flattened features to one neuroid's repeat-averaged
responses on the benchmark's stimuli, as the ``ridge`` metric fits each neuroid (features centred, the dual form,
the alpha of lowest leave-one-out squared error on :data:`~brainbench.encoding.regression.RIDGE_ALPHAS` relative
to the kernel's mean eigenvalue, :func:`~brainbench.encoding.regression.ridge_path`), on all the stimuli at once
(no held-out split: this is a readout to visualise, not a score). With the centred features :math:`X_c`, the
kernel :math:`X_cX_c^\top = U\Lambda U^\top` and the chosen alpha :math:`\alpha`, the readout's weights are

.. math::

    w = X_c^\top U\,\mathrm{diag}\!\left(\tfrac{1}{\lambda+\alpha}\right) U^\top (y - \bar y),
    \qquad \hat y(x) = \bar y + (f(x) - \bar x)^\top w,

the same predictions as the eigenbasis form on any stimulus. :class:`Voxel` is :math:`\hat y` as an objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import AssemblyError, ConfigError, UnknownNameError

if TYPE_CHECKING:
    import torch

    from ...extraction.layers import LayerInfo

__all__ = ["Readout", "Voxel", "fit_readout", "fit_voxel"]


@dataclass(frozen=True)
class Readout:
    """A fitted linear readout of flattened features: ``prediction = intercept + (features - mean) @ weights``;
    ``alpha`` the ridge penalty chosen, ``loo_r`` the Pearson r of its leave-one-out predictions on the ``n``
    stimuli it was fitted on, and what it predicts (``benchmark``, ``neuroid``, fitted on ``layer``)."""

    weights: np.ndarray = field(repr=False)  # (features,)
    mean: np.ndarray = field(repr=False)  # (features,)
    intercept: float
    alpha: float
    loo_r: float
    n: int
    layer: str = ""
    benchmark: str = ""
    neuroid: str = ""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predictions ``(n,)`` for features ``(n, ...)`` (flattened per stimulus)."""
        flat = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        return self.intercept + (flat - self.mean) @ self.weights


def fit_readout(features: Any, responses: Any, *, device: str | None = None) -> Readout:
    """Ridge from ``features`` ``(n, ...)`` (flattened per stimulus) to ``responses`` ``(n,)`` (module docstring),
    in float64 on :func:`~brainbench.device.pick_device` ``(device)`` (float32 on MPS). Raises ConfigError for
    fewer than 3 stimuli, mismatched lengths, non-finite values, or constant responses."""
    import torch

    from ...device import pick_device
    from ...encoding.align import metric_dtype
    from ...encoding.regression import RIDGE_ALPHAS, kernel_eigenbasis, pearson_columns, ridge_path

    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(responses, dtype=np.float64).reshape(-1)
    if X.ndim < 2 or len(X) != len(y):
        raise ConfigError(f"features {X.shape} and responses {y.shape} must have one row per stimulus each")
    if len(y) < 3:
        raise ConfigError(f"a readout needs at least 3 stimuli to choose its alpha; got {len(y)}")
    X = X.reshape(len(X), -1)
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ConfigError("features or responses have non-finite values; a readout is fitted on finite data only")
    if np.ptp(y) == 0:
        raise ConfigError("the responses are constant: nothing to predict")
    chosen = pick_device(device)
    dtype = metric_dtype(chosen)
    Xt = torch.from_numpy(X).to(chosen, dtype)
    Yt = torch.from_numpy(y[:, None]).to(chosen, dtype)
    x_mean = Xt.mean(0)
    Xc = Xt - x_mean
    K = Xc @ Xc.T
    alphas = torch.tensor(RIDGE_ALPHAS, device=chosen, dtype=dtype) * torch.diagonal(K).mean().clamp_min(
        torch.finfo(dtype).tiny)
    lam, U, T = kernel_eigenbasis(K, K)
    best, loo, _ = ridge_path(lam, U, T, Yt, alphas)
    alpha = alphas[best[0]]
    yc = Yt[:, 0] - Yt[:, 0].mean()
    weights = Xc.T @ (U @ ((U.T @ yc) / (lam + alpha)))
    loo_r = float(pearson_columns(loo, Yt)[0])
    return Readout(weights.cpu().double().numpy(), x_mean.cpu().double().numpy(), float(y.mean()), float(alpha),
                   loo_r, len(y))


def fit_voxel(model: Any, benchmark: str, neuroid: str, layer: str, *, n_stimuli: int | None = None,
              device: str | None = None, progress: bool = False, **options: Any) -> Readout:
    """The ridge readout of ``layer``'s features for neuroid ``neuroid`` (its ``neuroid_id``, a string as written)
    of ``benchmark``: the benchmark's region and subjects selected from its dataset's assembly, trials averaged per
    stimulus, features from the extraction engine (``options``: its options; cache, memory limit, ...), fitted by
    :func:`fit_readout` on the benchmark's stimuli (the first ``n_stimuli`` of them in the responses' order, when
    given; default all). Raises UnknownNameError for an unknown benchmark, layer, or neuroid (with close matches),
    AssemblyError for a neuroid without finite responses."""
    from ...checks import check_count
    from ...data.assembly import average_repetitions, select
    from ...registry.catalog import get_benchmark
    from ...registry.entries import get_dataset

    if options.get("reduce") not in (None, "none"):
        raise ConfigError(f"reduce={options['reduce']!r}: the readout is visualised through the layer's own units; "
                          "leave the reduction out")
    from ...device import pick_device
    from .objectives import resolve_layer

    spec = get_benchmark(benchmark)
    layer = resolve_layer(model, layer, pick_device(device)).name  # before any data is read
    if not isinstance(neuroid, str):
        raise ConfigError(f"neuroid ids are strings, as the benchmark writes them; got {neuroid!r}")
    dataset = get_dataset(spec.dataset)
    subjects = None if spec.subjects in ("all", "pooled") else spec.subjects
    responses = select(dataset.assembly(spec.region, subjects), spec.region, subjects)
    known = [str(n) for n in responses["neuroid_id"].values]
    if neuroid not in known:
        raise UnknownNameError(f"neuroid of {spec.id}", neuroid, known)
    responses = average_repetitions(responses.isel(neuroid=known.index(neuroid)))
    values = np.asarray(responses.values, dtype=np.float64)
    ids = [str(s) for s in responses["stimulus_id"].values]
    finite = np.isfinite(values)
    if not finite.any():
        raise AssemblyError(f"neuroid {neuroid!r} of {spec.id} has no finite response")
    ids, values = [s for s, ok in zip(ids, finite, strict=True) if ok], values[finite]
    if n_stimuli is not None:
        n = check_count(n_stimuli, "n_stimuli", minimum=3)
        ids, values = ids[:n], values[:n]
    stimuli = dataset.stimulus_set().subset(ids)
    extracted = model.extract(stimuli, [layer], progress=progress, device=device, **options)
    features = extracted[next(iter(extracted))]
    order = {str(s): i for i, s in enumerate(features["stimulus_id"].values)}
    rows = np.asarray(features.values)[[order[s] for s in ids]]
    fitted = fit_readout(rows, values, device=device)
    return Readout(fitted.weights, fitted.mean, fitted.intercept, fitted.alpha, fitted.loo_r, fitted.n,
                   layer=layer, benchmark=spec.id, neuroid=neuroid)


@dataclass(frozen=True)
class Voxel:
    """A fitted :class:`Readout`'s prediction from ``layer``'s flattened output, as an objective."""

    layer: str
    readout: Readout = field(repr=False)

    def check(self, info: LayerInfo) -> Voxel:
        if self.readout.weights.size != info.units:
            raise ConfigError(f"the readout has {self.readout.weights.size} weights, but layer {info.name!r} has "
                              f"{info.units} units at the model's input size; fit it on this layer")
        return self

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        import torch

        flat = act.reshape(act.shape[0], -1)
        weights = torch.as_tensor(self.readout.weights, dtype=flat.dtype, device=flat.device)
        mean = torch.as_tensor(self.readout.mean, dtype=flat.dtype, device=flat.device)
        return self.readout.intercept + (flat - mean) @ weights

    def describe(self) -> dict[str, Any]:
        r = self.readout
        return {"objective": "voxel", "layer": self.layer, "benchmark": r.benchmark, "neuroid": r.neuroid,
                "alpha": r.alpha, "loo_r": r.loo_r, "stimuli": r.n}
