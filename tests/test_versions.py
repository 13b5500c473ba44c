"""Every built-in metric and benchmark carries a version, and changing what it computes changes the version.

``versions.json`` (beside this file) records, per ``name@version``, a metric's protocol and its scores with
its defaults on fixed data, and a benchmark's full spec. A change to a default, a kernel or a protocol that
moves a number fails here until the version is bumped; record the new version's entry with
``BRAINBENCH_RECORD_VERSIONS=1 pytest tests/test_versions.py`` (old entries stay, as history).
"""

import hashlib
import json
import os
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import brainbench
import brainbench.registry.entries
from brainbench import SplitSpec
from brainbench.data.assembly import neural_assembly
from brainbench.registry.plugin_manager import ENTRY_POINT_GROUP
from brainbench.registry.entries import list_entries
from brainbench.scoring.splits import make_splits

RECORDED = Path(__file__).with_name("versions.json")
RECORD = os.environ.get("BRAINBENCH_RECORD_VERSIONS") == "1"
BUILTIN = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value.startswith("brainbench.")} | {
    "registry.toml"}
HOW = "record it with BRAINBENCH_RECORD_VERSIONS=1 pytest tests/test_versions.py"


def builtin(kind):
    return sorted(e.name for e in list_entries(kind) if e.plugin in BUILTIN)


MODEL_ONLY_OPTIONS = {"ii": {"distance": "efficientnet_lite0-perceptual", "k": 3, "baseline_sets": 5, "image_size": 32}}


def model_metric_fingerprint(name, metric):
    """A model-only metric's values on the testing kit's seeded two-convolution network and tiny stimulus set."""
    from brainbench.testing import _tiny_conv_model, tiny_stimulus_set

    values = metric(_tiny_conv_model(), tiny_stimulus_set(), ["0", "2"])
    return {"protocol": metric.card.protocol, "kind": metric.card.kind,
            "values": {layer: round(float(v), 5) for layer, v in values.items()}}


def image_distance_fingerprint(name):
    """An offline image distance's values on fixed random images (distances needing a download: the card only)."""
    import torch

    entry = brainbench.registry.entries.get_registry("image_distance").get(name)
    card = entry.card.model_dump(exclude={"description"})
    if not entry.card.offline_weights:
        return {"card": card}
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    distance = entry.factory(images)
    values = distance(np.array([0, 1, 2, 3, 4]), np.array([1, 2, 3, 4, 5]))
    return {"card": card, "values": np.round(np.asarray(values, dtype=float), 5).tolist()}


def metric_fingerprint(name):
    from brainbench.registry.contracts import ModelMetric

    if name in MODEL_ONLY_OPTIONS or isinstance(brainbench.get_metric(name, **MODEL_ONLY_OPTIONS.get(name, {})),
                                                ModelMetric):
        return model_metric_fingerprint(name, brainbench.get_metric(name, **MODEL_ONLY_OPTIONS.get(name, {})))
    rng = np.random.default_rng(0)
    n, ids = 40, [f"s{i}" for i in range(40)]
    X = rng.normal(size=(n, 12))
    Y = X[:, :4] @ rng.normal(size=(4, 6)) + rng.normal(size=(n, 6))
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{j}" for j in range(6)], region="r",
                             subject=["a"] * 3 + ["b"] * 3)
    features = xr.DataArray(X, dims=("presentation", "neuroid"), coords={
        "stimulus_id": ("presentation", ids), "layer": ("neuroid", ["l"] * 12), "unit": ("neuroid", np.arange(12))})
    metric = brainbench.get_metric(name)
    result = metric(features, target, make_splits(SplitSpec(kind="kfold", n_splits=3), n))
    return {"protocol": metric.card.protocol, "kind": metric.card.kind,
            "train": np.round(result.train.values, 5).tolist(), "test": np.round(result.test.values, 5).tolist()}


def benchmark_fingerprint(name):
    spec = brainbench.get_benchmark(name).model_dump(exclude={"description"}, exclude_none=True)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


RECORDS = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}  # read once for all the checks


def check(kind, name, version, current):
    key = f"{name}@{version}"
    if RECORD:
        RECORDS.setdefault(kind, {})[key] = current
        RECORDED.write_text(json.dumps(RECORDS, indent=1, sort_keys=True) + "\n")
    entry = RECORDS.get(kind, {}).get(key)
    assert entry is not None, f"{kind[:-1]} {key} has no recorded fingerprint; {HOW}"
    if kind == "metrics" and "values" in current:  # a model-only metric
        same = entry["protocol"] == current["protocol"] and entry["kind"] == current["kind"] and all(
            np.isclose(entry["values"][k], current["values"][k], atol=2e-5) for k in current["values"])
    elif kind == "metrics":
        same = entry["protocol"] == current["protocol"] and entry["kind"] == current["kind"] and all(
            np.allclose(entry[part], current[part], atol=2e-5) for part in ("train", "test"))
    elif kind == "image_distances":
        same = entry["card"] == current["card"] and np.allclose(entry.get("values", []), current.get("values", []),
                                                                atol=2e-5)
    else:
        same = entry == current
    assert same, (f"{kind[:-1]} {name} computes something else than version {version} did (a default, kernel or "
                  f"protocol changed): bump its version, then {HOW}")


@pytest.mark.parametrize("name", builtin("metric"))
def test_a_metric_that_changes_changes_its_version(name):
    check("metrics", name, brainbench.get_metric(name, **MODEL_ONLY_OPTIONS.get(name, {})).card.version,
          metric_fingerprint(name))


@pytest.mark.parametrize("name", builtin("benchmark"))
def test_a_benchmark_that_changes_changes_its_version(name):
    check("benchmarks", name, brainbench.get_benchmark(name).version, benchmark_fingerprint(name))


@pytest.mark.parametrize("name", builtin("image_distance"))
def test_an_image_distance_that_changes_changes_its_version(name):
    version = brainbench.registry.entries.get_registry("image_distance").get(name).card.version
    check("image_distances", name, version, image_distance_fingerprint(name))
