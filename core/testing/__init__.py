"""Contract checks for plugin authors: run them against your own model, dataset or metric.

    from brainbench.testing import check_model
    def test_my_model():
        check_model(build_my_model())

They are also fixtures of the ``brainbench`` pytest plugin (installed with brainbench):
``brainbench_stimuli`` (a tiny stimulus set) and ``brainbench_checks`` (this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cards import DatasetCard, MetricCard, ModelCard
from ..contracts import Dataset, Metric, Model

__all__ = ["check_dataset", "check_metric", "check_model", "feature_assembly", "tiny_stimulus_set"]


class ContractError(AssertionError):
    """A plugin object that breaks brainbench's behaviour contract."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def tiny_stimulus_set(n: int = 12, size: int = 32, seed: int = 0):
    """``n`` random RGB images (uint8), deterministic given ``seed``."""
    from ..stimuli import StimulusSet

    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    return StimulusSet.from_arrays(arrays, [f"tiny{i:03d}" for i in range(n)], identifier=f"tiny-{n}-{size}-{seed}")


def check_model(model: Model, stimuli: Any = None, layers: Sequence[str] | None = None) -> None:
    """Card, layers, feature assemblies (dims, coords, order, finite values), determinism, and a weights hash that
    is stable and follows the state (for a model over a torch module, ``model.module``)."""
    _require(isinstance(model, Model), f"{type(model).__name__} is not a brainbench.Model")
    _require(isinstance(model.card, ModelCard), "model.card must be a brainbench.ModelCard")
    ModelCard.model_validate(model.card.model_dump())
    _require(bool(model.layers), "model.layers is empty")
    missing = [layer for layer in model.default_layers if layer not in model.layers]
    _require(not missing, f"default layers {missing} are not in model.layers")
    stimuli = stimuli or tiny_stimulus_set()
    layers = list(layers or model.default_layers[:2])
    first = model.extract(stimuli, layers, progress=False, device="cpu")
    second = model.extract(stimuli, layers, progress=False, device="cpu")
    _require(set(first) == set(layers), f"extract returned layers {sorted(first)}, asked for {layers}")
    for layer in layers:
        features = first[layer]
        _require(features.dims == ("presentation", "neuroid"), f"{layer}: dims {features.dims} != ('presentation', 'neuroid')")
        _require(features.sizes["presentation"] == len(stimuli), f"{layer}: {features.sizes['presentation']} rows for {len(stimuli)} stimuli")
        _require([str(s) for s in features["stimulus_id"].values] == stimuli.ids, f"{layer}: stimulus_id order differs from the stimulus set")
        for coord in ("layer", "unit"):
            _require(coord in features.coords, f"{layer}: neuroid coord {coord!r} is missing")
        _require(bool(np.isfinite(features.values).all()), f"{layer}: features contain NaN or infinity")
        _require(np.array_equal(features.values, second[layer].values), f"{layer}: two extractions differ (not deterministic)")
    digest = model.weights_hash()
    _require(isinstance(digest, str) and len(digest) >= 16 and digest == model.weights_hash(), "weights_hash must be a stable hex string")
    _check_hash_follows_the_state(model, digest)


def _check_hash_follows_the_state(model: Model, digest: str) -> None:
    """For a model over a torch module (``model.module``): its first parameter negated in place (every byte's sign
    bit flips, zeros included) must change ``weights_hash``, and negated back must restore it."""
    module = getattr(model, "module", None)
    parameters = [p for p in module.parameters() if p.numel()] if hasattr(module, "parameters") else []
    if not parameters:
        return
    import torch

    with torch.no_grad():
        parameters[0].neg_()
        try:
            changed = model.weights_hash()
        finally:
            parameters[0].neg_()
    _require(changed != digest, "weights_hash did not change when a parameter of model.module changed in place; it "
             "must follow the state (cache it only behind a check that sees every change: brainbench.identity)")
    _require(model.weights_hash() == digest, "weights_hash did not come back when the parameter was restored")


def check_dataset(dataset: Dataset) -> None:
    """Card, stimulus set, and an assembly that validates against it with the card's regions/subjects."""
    from ..assembly import validate_assembly

    _require(isinstance(dataset, Dataset), f"{type(dataset).__name__} is not a brainbench.Dataset")
    _require(isinstance(dataset.card, DatasetCard), "dataset.card must be a brainbench.DatasetCard")
    stimuli = dataset.stimulus_set()
    _require(len(stimuli) > 0, "the stimulus set is empty")
    assembly = dataset.assembly()
    validate_assembly(assembly, stimulus_set=stimuli, allow_nan="repetition" in assembly.coords)
    regions = set(assembly["region"].values.astype(str).tolist())
    _require(regions <= set(dataset.card.regions), f"assembly regions {sorted(regions)} are not all on the card {dataset.card.regions}")
    if dataset.card.subjects:
        subjects = set(assembly["subject"].values.astype(str).tolist())
        _require(subjects <= set(dataset.card.subjects), f"assembly subjects {sorted(subjects)} are not all on the card")


def feature_assembly(values: np.ndarray, stimulus_ids: Sequence[str], layer: str = "l") -> Any:
    """Features ``(stimulus, unit)`` as a model's extraction returns them, for one ``layer``."""
    import xarray as xr

    return xr.DataArray(values, dims=("presentation", "neuroid"), attrs={"layer": layer}, coords={
        "stimulus_id": ("presentation", list(stimulus_ids)), "unit": ("neuroid", np.arange(values.shape[1])),
        "layer": ("neuroid", [layer] * values.shape[1])})


def check_metric(metric: Metric, n_stimuli: int = 60, n_neuroids: int = 8, seed: int = 0) -> None:
    """On data with a known answer: features that generate the target beat unrelated features; shapes; determinism."""
    import xarray as xr

    from ..assembly import neural_assembly
    from ..cards import SplitSpec
    from ..splits import make_splits

    _require(isinstance(metric, Metric), f"{type(metric).__name__} is not a brainbench.Metric")
    _require(isinstance(metric.card, MetricCard), "metric.card must be a brainbench.MetricCard")
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n_stimuli)]
    latent = rng.standard_normal((n_stimuli, 20))
    target = neural_assembly(
        latent @ rng.standard_normal((20, n_neuroids)) + 0.3 * rng.standard_normal((n_stimuli, n_neuroids)),
        stimulus_id=ids, neuroid_id=[f"n{i}" for i in range(n_neuroids)], region="r", subject="x",
    )

    def features(values: np.ndarray) -> xr.DataArray:
        return feature_assembly(values, ids)

    splits = make_splits(SplitSpec(kind="kfold", n_splits=3, seed=seed), n_stimuli)
    good = metric(features(latent), target, splits)
    bad = metric(features(rng.standard_normal((n_stimuli, 20))), target, splits)
    unit, n_units = {"rsa": ("rdm", 1), "encoding_rsa": ("rdm", 1), "population": ("subject", 1)}.get(
        metric.card.kind, ("neuroid", n_neuroids))  # the target is one subject
    for name, result in (("train", good.train), ("test", good.test)):
        _require(result.dims == ("split", unit), f"{name} scores have dims {result.dims}, expected ('split', '{unit}')")
        _require(result.shape == (len(splits), n_units), f"{name} scores have shape {result.shape}")
    sign = 1 if metric.card.higher_is_better else -1
    _require(sign * float(good.test.mean()) > sign * float(bad.test.mean()),
             "generating features did not score better than unrelated features")
    again = metric(features(latent), target, splits)
    _require(np.allclose(good.test.values, again.test.values), "the metric is not deterministic")
