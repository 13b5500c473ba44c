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

from ..registry.cards import DatasetCard, MetricCard, ModelCard
from ..registry.contracts import Dataset, ImageDistance, Metric, MetricTarget, Model, ModelMetric
from ..errors import BrainbenchError

__all__ = ["check_dataset", "check_image_distance", "check_metric", "check_model", "check_model_metric", "feature_assembly",
           "tiny_stimulus_set", "tiny_text_set"]


class ContractError(AssertionError):
    """A plugin object that breaks brainbench's behaviour contract."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def tiny_stimulus_set(n: int = 12, size: int = 32, seed: int = 0):
    """``n`` random RGB images (uint8), deterministic given ``seed``."""
    from ..data.stimuli import StimulusSet

    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    return StimulusSet.from_arrays(arrays, [f"tiny{i:03d}" for i in range(n)], identifier=f"tiny-{n}-{size}-{seed}")


def tiny_text_set(n: int = 6):
    """``n`` short captions of different lengths (for text models), ids ``text000``, ``text001``, ..."""
    from ..data.stimuli import StimulusSet

    words = ["a", "dog", "runs", "on", "the", "beach", "near", "two", "red", "boats", "at", "dawn"]
    texts = [" ".join(words[i:i + 3 + i % 4]) for i in range(n)]
    return StimulusSet.from_texts(texts, [f"text{i:03d}" for i in range(n)], identifier=f"tiny-texts-{n}")


def check_model(model: Model, stimuli: Any = None, layers: Sequence[str] | None = None) -> None:
    """Card, layers, feature assemblies (dims, coords, order, finite values), determinism, and a weights hash that
    is stable and follows the state (for a model over a torch module, ``model.module``).

    ``stimuli`` default to :func:`tiny_stimulus_set`, or :func:`tiny_text_set` for a model whose ``modality`` is
    ``"text"``. Both extractions run with ``cache=False``, so the second is computed again, not read from the
    activation cache. Raises :class:`ContractError` naming what is wrong."""
    _require(isinstance(model, Model), f"{type(model).__name__} is not a brainbench.Model")
    _require(isinstance(model.card, ModelCard), "model.card must be a brainbench.ModelCard")
    ModelCard.model_validate(model.card.model_dump())
    _require(bool(model.layers), "model.layers is empty")
    missing = [layer for layer in model.default_layers if layer not in model.layers]
    _require(not missing, f"default layers {missing} are not in model.layers")
    stimuli = stimuli or (tiny_text_set() if getattr(model, "modality", "image") == "text" else tiny_stimulus_set())
    layers = list(layers or model.default_layers[:2])
    first = model.extract(stimuli, layers, progress=False, device="cpu", cache=False)
    second = model.extract(stimuli, layers, progress=False, device="cpu", cache=False)
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
             "must follow the state (cache it only behind a check that sees every change: brainbench.extraction.identity)")
    _require(model.weights_hash() == digest, "weights_hash did not come back when the parameter was restored")


def check_dataset(dataset: Dataset, again: Dataset | None = None) -> None:
    """What the :class:`~brainbench.Dataset` contract promises, checked on the data itself.

    - the card is a :class:`~brainbench.DatasetCard` that validates against its schema;
    - the stimulus set is a non-empty :class:`~brainbench.StimulusSet` whose ids are unique strings, as many as the
      card's ``n_stimuli`` where the card says;
    - the assembly validates: responses ``(presentation, neuroid)`` by :func:`brainbench.data.assembly.validate_assembly`
      against the stimulus set (NaN only for raw trials padded with a ``repetition`` coord), RDMs
      ``(rdm, stimulus, stimulus_b)`` by :func:`brainbench.rdm.rdms.validate_rdms` with ids in the stimulus set;
    - the regions (and subjects, where the card lists them) in the data are on the card, and each region on the
      card is in the data: ``assembly(region)`` holds that region's responses and no other's;
    - a second load (``again``: a second instance built the same way, else this one) gives the same stimulus ids and
      the same assembly, values and coords.

    Raises :class:`ContractError` naming what differs. Loading real data fetches the dataset's files (from the
    mirror, else the publisher)."""
    from ..data.assembly import validate_assembly
    from ..rdm.rdms import is_rdm_assembly, validate_rdms
    from ..data.stimuli import StimulusSet

    _require(isinstance(dataset, Dataset), f"{type(dataset).__name__} is not a brainbench.Dataset")
    card = dataset.card
    _require(isinstance(card, DatasetCard), "dataset.card must be a brainbench.DatasetCard")
    type(card).model_validate(card.model_dump())
    stimuli = dataset.stimulus_set()
    _require(isinstance(stimuli, StimulusSet),
             f"stimulus_set() returned {type(stimuli).__name__}, not a brainbench.StimulusSet")
    ids = stimuli.ids
    _require(len(ids) > 0, "the stimulus set is empty")
    not_strings = [i for i in ids if not isinstance(i, str)]
    _require(not not_strings, f"{len(not_strings)} stimulus ids are not strings, e.g. {not_strings[:3]!r}")
    repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    _require(not repeated, f"{len(repeated)} stimulus ids repeat in the stimulus set, e.g. {repeated[:5]}")
    _require(card.n_stimuli is None or card.n_stimuli == len(ids),
             f"the card says n_stimuli={card.n_stimuli}; the stimulus set holds {len(ids)}")
    assembly = dataset.assembly()
    if is_rdm_assembly(assembly):
        validate_rdms(assembly)
        unknown = sorted(set(assembly["stimulus_id"].values.astype(str).tolist()) - set(ids))
        _require(not unknown, f"{len(unknown)} RDM stimulus ids are not in the stimulus set, e.g. {unknown[:5]}")
    else:
        validate_assembly(assembly, stimulus_set=stimuli, allow_nan="repetition" in assembly.coords)
    regions = set(assembly["region"].values.astype(str).tolist())
    _require(regions <= set(card.regions), f"regions {sorted(regions - set(card.regions))} are in the data but not "
             f"on the card, which lists {card.regions}")
    if card.subjects:
        subjects = set(assembly["subject"].values.astype(str).tolist())
        _require(subjects <= set(card.subjects), f"subjects {sorted(subjects - set(card.subjects))} are in the data "
                 f"but not on the card, which lists {card.subjects}")
    for region in card.regions:  # one by one: regions may overlap (NSD's V1 lies in EVC), so assembly() may hold one
        try:
            part = dataset.assembly(region)
        except BrainbenchError as exc:
            raise ContractError(f"the card lists region {region!r}, but assembly({region!r}) raised {exc}") from exc
        found = sorted(set(part["region"].values.astype(str).tolist()))
        _require(found == [region], f"the card lists region {region!r}, but assembly({region!r}) holds regions {found}")
    second = again if again is not None else dataset
    _require(second.stimulus_set().ids == ids, "a second load gives other stimulus ids or another order")
    reloaded = second.assembly()
    _require(reloaded.dims == assembly.dims and reloaded.shape == assembly.shape,
             f"a second load gives an assembly of dims {reloaded.dims} and shape {reloaded.shape}, not {assembly.dims} "
             f"{assembly.shape}")
    _require(np.array_equal(np.asarray(reloaded.values), np.asarray(assembly.values), equal_nan=True),
             "a second load gives other values (not deterministic)")
    for name, coord in assembly.coords.items():
        _require(name in reloaded.coords and np.array_equal(reloaded[name].values, coord.values),
                 f"a second load gives another coord {name!r}")


def feature_assembly(values: np.ndarray, stimulus_ids: Sequence[str], layer: str = "l") -> Any:
    """Features ``(stimulus, unit)`` as a model's extraction returns them, for one ``layer``."""
    import xarray as xr

    return xr.DataArray(values, dims=("presentation", "neuroid"), attrs={"layer": layer}, coords={
        "stimulus_id": ("presentation", list(stimulus_ids)), "unit": ("neuroid", np.arange(values.shape[1])),
        "layer": ("neuroid", [layer] * values.shape[1])})


def check_metric(metric: Metric, n_stimuli: int = 60, n_neuroids: int = 8, seed: int = 0) -> None:
    """On data with a known answer (``n_stimuli`` x ``n_neuroids`` responses generated from 20 latent features plus
    noise, one region and subject, 3-fold splits): the card validates; ``metric.target`` is a
    :class:`~brainbench.MetricTarget`; train and test scores have dims ``(split, unit)`` (unit: the target's, one
    per neuroid, else one for the subject) and are finite; the generating features
    beat unrelated ones (in the direction of ``higher_is_better``); a second call gives the same scores. Raises
    :class:`ContractError` naming what broke."""
    import xarray as xr

    from ..data.assembly import neural_assembly
    from ..registry.cards import SplitSpec
    from ..scoring.splits import make_splits

    _require(isinstance(metric, Metric), f"{type(metric).__name__} is not a brainbench.Metric")
    _require(isinstance(metric.card, MetricCard), "metric.card must be a brainbench.MetricCard")
    type(metric.card).model_validate(metric.card.model_dump())
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
    _require(isinstance(metric.target, MetricTarget), f"metric.target must be a brainbench.MetricTarget (what the metric "
             f"scores), not {type(metric.target).__name__}")
    unit = metric.target.unit  # the units it scores one by one; the target here is one subject
    n_units = n_neuroids if unit == "neuroid" else 1
    for name, result in (("train", good.train), ("test", good.test)):
        _require(result.dims == ("split", unit), f"{name} scores have dims {result.dims}, expected ('split', '{unit}')")
        _require(result.shape == (len(splits), n_units), f"{name} scores have shape {result.shape}")
        _require(bool(np.isfinite(result.values).all()), f"{name} scores hold NaN or infinity on data with a known "
                 f"answer: {result.values.round(3).tolist()}")
    sign = 1 if metric.card.higher_is_better else -1
    _require(sign * float(good.test.mean()) > sign * float(bad.test.mean()),
             "generating features did not score better than unrelated features")
    again = metric(features(latent), target, splits)
    _require(np.allclose(good.test.values, again.test.values), "the metric is not deterministic")


def _tiny_conv_model(seed: int = 0) -> Model:
    """A seeded two-convolution network over 32 x 32 RGB images in [0, 1] (layers ``0``, ``1``, ``2``)."""
    import torch

    from ..extraction.torch_model import wrap

    generator = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(), torch.nn.Conv2d(6, 8, 3))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)

    def preprocess(image: Any) -> Any:
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    return wrap(net, preprocess, name=f"tiny-conv-{seed}")


def check_model_metric(metric: ModelMetric, model: Model | None = None, stimuli: Any = None,
                       layers: Sequence[str] = ("0", "2")) -> None:
    """A :class:`~brainbench.ModelMetric` (a model and images, no brain data) keeps its contract: its card is a
    MetricCard of kind ``model_only``; on ``model`` and ``stimuli`` (default: a seeded two-convolution network and
    :func:`tiny_stimulus_set`) it returns one finite number per asked layer, keyed by the layer names as given, and
    the same numbers again on a second call. Raises :class:`ContractError` naming what broke."""
    _require(isinstance(metric, ModelMetric), f"{type(metric).__name__} is not a brainbench.ModelMetric")
    _require(isinstance(metric.card, MetricCard), "metric.card must be a brainbench.MetricCard")
    _require(metric.card.kind == "model_only", f"a ModelMetric's card kind must be 'model_only', not {metric.card.kind!r}")
    model = model if model is not None else _tiny_conv_model()
    stimuli = stimuli if stimuli is not None else tiny_stimulus_set()
    first = metric(model, stimuli, list(layers))
    _require(list(first) == list(layers), f"the metric returned layers {list(first)}, asked for {list(layers)}")
    _require(all(isinstance(v, (int, float)) and np.isfinite(v) for v in first.values()),
             f"the metric returned non-finite or non-numeric values: {dict(first)}")
    again = metric(model, stimuli, list(layers))
    _require(all(np.isclose(first[k], again[k]) for k in layers), f"the metric is not deterministic: {dict(first)} "
             f"then {dict(again)}")


def check_image_distance(factory: Any, n_images: int = 6, size: int = 32, seed: int = 0) -> None:
    """An image distance factory (``register_image_distances``) keeps its contract: over ``n_images`` seeded random
    images ``(n, 3, size, size)`` in [0, 1] it gives a :class:`~brainbench.ImageDistance` with a ``name``, whose
    distances come one per pair, finite, non-negative, zero for an image against itself, symmetric and
    reproducible (within 1e-5 relative); images outside [0, 1] (0-255 pixel values) are refused with a
    :class:`~brainbench.errors.BrainbenchError`, never rescaled. Raises :class:`ContractError` naming what broke."""
    import torch

    images = torch.rand(n_images, 3, size, size, generator=torch.Generator().manual_seed(seed))
    distance = factory(images)
    _require(isinstance(distance, ImageDistance), f"{type(distance).__name__} is not a brainbench.ImageDistance")
    _require(isinstance(getattr(distance, "name", None), str) and bool(distance.name),
             "an image distance needs a name (what it is, stored with every II)")
    a, b = np.array([0, 1, 2, 3, 4, 0]), np.array([1, 2, 3, 4, 5, 5])
    d = np.asarray(distance(a, b), dtype=np.float64)
    _require(d.shape == (len(a),), f"{len(a)} pairs gave distances of shape {d.shape}")
    _require(bool(np.isfinite(d).all() and (d >= 0).all()), f"distances must be finite and >= 0: {d.round(4).tolist()}")
    _require(bool((d > 0).any()), "different random images all at distance 0")
    same = np.asarray(distance(np.arange(n_images), np.arange(n_images)), dtype=np.float64)
    _require(bool(np.allclose(same, 0, atol=1e-6)), f"an image against itself must be at distance 0: {same.round(6).tolist()}")
    _require(bool(np.allclose(distance(b, a), d, rtol=1e-5, atol=1e-7)), "the distance is not symmetric")
    _require(bool(np.allclose(distance(a, b), d, rtol=1e-5, atol=1e-7)), "the distance is not reproducible")
    try:
        factory(images * 255)
    except BrainbenchError:
        return
    raise ContractError("images in 0-255 (outside [0, 1]) were accepted: refuse them with a clear error")
