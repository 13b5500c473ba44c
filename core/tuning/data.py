"""What a tuner trains on: a benchmark's responses, its training and held-out stimuli, a validation split inside the
training stimuli, the model's input tensors, and a readout layer's activations with gradients.

The stimuli come from the benchmark's own split protocol (split ``split`` of :func:`~brainbench.scoring.splits.make_splits`
over its target's stimuli), so the held-out stimuli a tuned model is scored on are the benchmark's. The validation
stimuli are a seeded ``val_fraction`` of the training stimuli, rounded (a ConfigError when that keeps none, or leaves
fewer than 2 to train on).
Responses are the benchmark's repeat-averaged target, ``(stimuli, neuroids)``, z-scored per neuroid with the
training stimuli's mean and sd (the readout predicts standardised responses).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..checks import check_seed
from ..errors import ConfigError, UnknownNameError

__all__ = ["TuningData", "capture", "layer_info", "load_tuning_data", "mean_pearson", "model_inputs", "readout_features",
           "ridge_readout", "chosen_parameters", "modules_run_before"]


@dataclass
class TuningData:
    """A benchmark's data for tuning: ``ids`` (target stimulus ids, strings as written), ``responses`` float32
    ``(stimuli, neuroids)`` z-scored on the training stimuli, index arrays ``train``, ``val`` and ``test`` into
    ``ids``, the ``neuroids``, and the benchmark's id and version."""

    benchmark: str
    benchmark_version: str
    dataset: str
    ids: list[str]
    neuroids: list[str]
    responses: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    stimuli: Any
    mean: np.ndarray
    sd: np.ndarray

    def used_ids(self) -> dict[str, list[str]]:
        return {part: [self.ids[i] for i in getattr(self, part)] for part in ("train", "val", "test")}

    def tuned_on(self) -> dict[str, Any]:
        """What a model tuned on this data saw (a tuned model's ``tuned_on``, checked by the scorer for leakage)."""
        ids = self.used_ids()
        return {"benchmark": self.benchmark, "dataset": self.dataset,
                "stimulus_ids": {"train": ids["train"], "val": ids["val"], "test": ids["test"]}}

    def fingerprint(self) -> str:
        """sha256 of the benchmark, its version and the stimulus ids of each part (a checkpoint's data)."""
        text = json.dumps([self.benchmark, self.benchmark_version, self.used_ids()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_tuning_data(benchmark: str, *, split: int = 0, val_fraction: float = 0.1, seed: int = 0) -> TuningData:
    """The tuning data of ``benchmark`` (module docstring). Raises ConfigError for a benchmark whose target is not
    per-neuroid responses (RDM benchmarks have no responses to predict), a split index out of range, or a
    validation fraction outside (0, 1)."""
    from ..scoring.scorer import _prepare_target, _resolve_benchmark

    if not (0 < val_fraction < 1):
        raise ConfigError(f"the validation fraction must lie in (0, 1); got {val_fraction!r}")
    spec, metric, dataset = _resolve_benchmark(benchmark, None)
    stimuli, target, splits, _ceiling = _prepare_target(spec, dataset, metric)
    if target.unit_dim != "neuroid":
        raise ConfigError(f"benchmark {benchmark!r} scores {target.unit_dim}s, not neuroid responses, so there is "
                          "nothing for a readout to predict; tune toward a benchmark of responses (e.g. cowley2023.V4)")
    if not 0 <= split < len(splits):
        raise ConfigError(f"split {split} does not exist: benchmark {benchmark!r} has {len(splits)} splits "
                          f"(0 to {len(splits) - 1})")
    data = target.data.transpose("stimulus_id", "neuroid") if "stimulus_id" in target.data.dims else target.data
    values = np.asarray(data.values, dtype=np.float64)
    chosen = splits[split]
    train_all = np.asarray(chosen.train)
    rng = np.random.default_rng(check_seed(seed))
    n_val = round(val_fraction * len(train_all))
    if n_val < 1 or len(train_all) - n_val < 2:
        raise ConfigError(f"split {split} of {benchmark!r} has {len(train_all)} training stimuli: too few to keep a "
                          f"validation part of {val_fraction:g} ({n_val} stimuli) and 2 or more to train on; choose "
                          "another validation fraction, or a benchmark with more training stimuli")
    shuffled = rng.permutation(train_all)
    val, train = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])
    mean = values[train].mean(axis=0)
    sd = values[train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    neuroids = [str(n) for n in data.coords["neuroid_id"].values] if "neuroid_id" in data.coords else \
        [str(i) for i in range(values.shape[1])]
    return TuningData(benchmark=spec.id, benchmark_version=spec.version, dataset=spec.dataset, ids=list(target.ids),
                      neuroids=neuroids,
                      responses=((values - mean) / sd).astype(np.float32), train=train, val=val,
                      test=np.sort(np.asarray(chosen.test)), stimuli=stimuli, mean=mean, sd=sd)


def model_inputs(model: Any, stimuli: Any, ids: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
    """The model's preprocessed inputs for ``ids``, one float32 tensor ``(n, ...)`` on the CPU."""
    from ..extraction.inputs import _batch

    parts = [_batch(model, stimuli, ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)]
    return torch.cat(parts).float()


def layer_info(model: Any, layer: str) -> Any:
    """The :class:`~brainbench.extraction.layers.LayerInfo` of ``layer`` (a name in the model's layer table,
    ``#n`` call suffixes included); UnknownNameError with close matches otherwise."""
    table = model.layer_table()
    for info in table:
        if info.name == layer:
            return info
    raise UnknownNameError(f"layer of {model.label}", layer, [info.name for info in table])


@contextmanager
def capture(module: torch.nn.Module, info: Any) -> Iterator[dict[str, torch.Tensor]]:
    """While open, ``captured["out"]`` holds the output of ``info``'s module at its call ``info.call`` of the last
    forward pass of ``module`` (with its gradient), batch axis first."""
    from ..extraction.layers import first_tensor

    target = dict(module.named_modules())[info.module]
    captured: dict[str, Any] = {}
    calls = [0]

    def hook(_m: Any, _i: Any, output: Any) -> None:
        calls[0] += 1
        if calls[0] == info.call:
            out = first_tensor(output)
            captured["out"] = out.movedim(info.batch_axis, 0) if info.batch_axis else out

    def reset(_m: Any, _inputs: Any) -> None:
        calls[0] = 0

    handles = [module.register_forward_pre_hook(reset), target.register_forward_hook(hook)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def readout_features(out: torch.Tensor, pool: str) -> torch.Tensor:
    """A captured layer output ``(batch, ...)`` as readout features ``(batch, units)``: ``"flatten"`` every unit, or
    ``"mean"`` the spatial mean of a ``(batch, C, H, W)`` map (a ConfigError for other shapes)."""
    if pool == "flatten":
        return out.reshape(out.shape[0], -1)
    if pool == "mean":
        if out.ndim != 4:
            raise ConfigError(f"readout pool 'mean' needs a (channels, height, width) map; the layer gives "
                              f"{tuple(out.shape[1:])}: use pool 'flatten'")
        return out.mean(dim=(2, 3))
    raise ConfigError(f"readout pool {pool!r} is not 'flatten' or 'mean'")


def ridge_readout(features: np.ndarray, responses: np.ndarray, alphas: Sequence[float] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A linear readout fitted by ridge regression, one alpha per neuroid chosen by efficient leave-one-out
    (scikit-learn's ``RidgeCV(alpha_per_target=True)``, on features centred and scaled by their overall sd):
    ``(weight (neuroids, units), bias (neuroids,), alphas (neuroids,))`` in the original feature units."""
    from sklearn.linear_model import RidgeCV

    from ..encoding.regression import RIDGE_ALPHAS

    x = np.asarray(features, dtype=np.float64)
    scale = float(x.std()) or 1.0
    model = RidgeCV(alphas=list(alphas or RIDGE_ALPHAS), alpha_per_target=True, fit_intercept=True)
    model.fit(x / scale, np.asarray(responses, dtype=np.float64))
    chosen = np.broadcast_to(np.asarray(model.alpha_, dtype=np.float64), (responses.shape[1],))
    return model.coef_ / scale, np.asarray(model.intercept_, dtype=np.float64), chosen


def mean_pearson(predicted: np.ndarray, responses: np.ndarray) -> float:
    """The mean over neuroids of the Pearson r between ``predicted`` and ``responses`` ``(stimuli, neuroids)``."""
    a = predicted - predicted.mean(axis=0)
    b = responses - responses.mean(axis=0)
    denominator = np.sqrt((a ** 2).sum(axis=0) * (b ** 2).sum(axis=0))
    r = np.where(denominator > 0, (a * b).sum(axis=0) / np.where(denominator > 0, denominator, 1), 0.0)
    value = float(r.mean())
    return value if math.isfinite(value) else 0.0


def chosen_parameters(module: torch.nn.Module, patterns: tuple[str, ...] | None, reached: set[str]) -> list[str]:
    """Names of the parameters that train: those matching ``patterns`` (fnmatch; ConfigError when none does), or by
    default those of the modules in ``reached``."""
    names = [n for n, _ in module.named_parameters()]
    if patterns is None:
        return [n for n in names if n.rsplit(".", 1)[0] in reached or "" in reached]
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not chosen:
        raise ConfigError(f"no parameter of the model matches {list(patterns)}; its parameters are "
                          f"{', '.join(names[:6])}{', ...' if len(names) > 6 else ''}")
    return chosen


def modules_run_before(module: torch.nn.Module, info: Any, x: torch.Tensor) -> set[str]:
    """Names of the modules that run before the readout layer's output exists (and the layer's own submodules)."""
    ran: list[str] = []
    names = {m: n for n, m in module.named_modules()}

    class _Stop(Exception):
        pass

    calls = [0]

    def record(m: Any, _i: Any, _o: Any) -> None:
        ran.append(names[m])
        if names[m] == info.module:
            calls[0] += 1
            if calls[0] == info.call:
                raise _Stop

    handles = [m.register_forward_hook(record) for m in module.modules()]
    try:
        with torch.no_grad():
            module(x)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return set(ran)
