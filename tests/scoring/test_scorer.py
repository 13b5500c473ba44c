"""score(): the known answer of the synthetic benchmark, provenance, and bad input."""

import json

import numpy as np
import pytest
import torch

import brainbench
from brainbench import DatasetCard, hookimpl
from brainbench.data.assembly import neural_assembly
from brainbench.registry.contracts import Dataset
from brainbench.errors import AssemblyError, SplitError
from brainbench.extraction.identity import module_tree
from brainbench.plugins.datasets.synthetic import GENERATING_LAYER, NOISE_SD, REPETITIONS
from brainbench.results.store import ResultsStore
from brainbench.testing import check_dataset, tiny_stimulus_set


@pytest.mark.parametrize("benchmark", ["synthetic.early", "synthetic.late"])
def test_the_generating_layer_wins(generator_results, benchmark):
    result = generator_results[benchmark]
    assert result.layer == GENERATING_LAYER[benchmark.split(".")[1]]
    others = [s.test for layer, s in result.layers.items() if layer != result.layer]
    assert result.layers[result.layer].test > max(others) + 0.1  # 0.13-0.16 in r


@pytest.mark.parametrize("benchmark", ["synthetic.early", "synthetic.late"])
def test_measured_ceiling_matches_the_injected_noise(generator_results, benchmark):
    result = generator_results[benchmark]
    for subject, sd in NOISE_SD.items():
        expected = np.sqrt(1 / (1 + sd**2 / REPETITIONS))  # max r of a perfect model with the repeat mean
        assert result.subjects[subject].ceiling == pytest.approx(expected, abs=0.02)
    true = {s: 1 / (1 + sd**2 / REPETITIONS) for s, sd in NOISE_SD.items()}
    rel = np.asarray(result.neuroids["reliability"])
    subj = np.asarray(result.neuroids["subject"])
    for subject in NOISE_SD:
        assert rel[subj == subject].mean() == pytest.approx(true[subject], abs=0.02)


def test_aggregates_and_provenance(generator_results):
    result = generator_results["synthetic.late"]
    assert result.raw == pytest.approx(np.mean([s.raw for s in result.subjects.values()]))
    for s in result.subjects.values():
        assert s.normalised == pytest.approx(s.raw / s.ceiling) and s.n_neuroids == 40
    test_r = np.asarray(result.neuroids["test_r"])
    assert len(test_r) == 80 and test_r.mean() == pytest.approx(result.raw, abs=1e-5)
    p = result.provenance
    assert (p.model, p.weights, p.benchmark, p.benchmark_version, p.metric, p.metric_version) == (
        "synthetic_generator", "fixed", "synthetic.late", "2", "ridge", "1")
    assert len(p.weights_hash) == 64 and p.brainbench_version == brainbench.__version__ and p.split_seed == 0
    assert p.device == "cpu" and p.stimulus_set == "synthetic-v1" and p.created.endswith("+00:00")
    tree = module_tree(brainbench.get_model("synthetic_generator").module)  # the submodules, their classes and settings
    assert p.code == {"torch": torch.__version__, "brainbench": f"brainbench=={brainbench.__version__}", "module tree": tree}
    assert brainbench.ScoreResult.from_json(result.to_json()) == result
    older = json.loads(result.to_json())
    del older["provenance"]["code"]  # a result stored before provenance named the code
    assert brainbench.ScoreResult.from_json(json.dumps(older)).provenance.code == {}
    for layer, score in result.layers.items():  # feature-space statistics beside each layer's scores
        assert score.n_features >= 1 and 1 <= score.effective_dimensionality <= min(300, score.n_features)
        assert 0 <= score.sparsity <= 1, layer


def test_scores_are_deterministic(generator_results):
    again = brainbench.score("synthetic_generator", "synthetic.late", progress=False)
    assert again.raw == generator_results["synthetic.late"].raw and again.layers == generator_results["synthetic.late"].layers


def test_synthetic_dataset_passes_the_contract():
    check_dataset(brainbench.get_dataset("synthetic"))


class SmallDataset(Dataset):
    """A dataset whose assembly each test breaks in its own way."""

    values = None
    ids = None
    n = 40

    def __init__(self):
        self.card = DatasetCard(name="small", species="none", recording="synthetic", regions=["r"])

    def stimulus_set(self):
        return tiny_stimulus_set(n=self.n)

    def assembly(self, region=None, subjects=None):
        rng = np.random.default_rng(0)
        ids = self.ids or self.stimulus_set().ids
        values = rng.standard_normal((len(ids), 3)) if self.values is None else self.values
        return neural_assembly(values, stimulus_id=ids, neuroid_id=["a", "b", "c"], region="r", subject="x")


@pytest.fixture
def small(dataset_plugin):
    dataset_plugin(SmallDataset, {"id": "small.r", "dataset": "small", "region": "r", "metric": "ridge", "ceiling": "none",
                                  "version": "1"})
    yield SmallDataset
    SmallDataset.values, SmallDataset.ids, SmallDataset.n = None, None, 40


def test_scoring_without_ceiling(small, tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    result = brainbench.score("synthetic_generator", "small.r", progress=False, store=store)
    assert result.ceiling is None and result.normalised is None and result.provenance.ceiling_rule == "none"
    assert store.rows()[0]["benchmark"] == "small.r"


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        (lambda d: setattr(d, "values", np.where(np.eye(40, 3) > 0, np.nan, 1.0)), AssemblyError, "values are NaN or infinite"),
        (lambda d: setattr(d, "ids", [f"other{i}" for i in range(40)]), AssemblyError, "40 stimulus ids are not in stimulus set"),
        (lambda d: setattr(d, "n", 12), SplitError, "12 stimuli are too few for 5 kfold splits"),
    ],
    ids=["nan-responses", "mismatched-stimulus-ids", "too-few-stimuli"],
)
def test_bad_data_gets_a_clear_error_and_nothing_is_stored(small, tmp_path, setup, error, message):
    setup(small)
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    with pytest.raises(error, match=message):
        brainbench.score("synthetic_generator", "small.r", progress=False, store=store)
    assert store.rows() == []


def test_another_metric_is_another_benchmark_id(plugin):
    from brainbench import MetricCard
    from brainbench.plugins.metrics.ridge import RidgeEncoding

    class P:
        @hookimpl
        def register_metrics(self, register):
            register(MetricCard(name="ridgefixed", version="1"), lambda: RidgeEncoding(alphas=[1.0]))

    plugin(P(), "ridgefixed-plugin")
    result = brainbench.score("synthetic_generator", "synthetic.late", metric="ridgefixed", progress=False, layers=["block3"])
    assert (result.benchmark, result.metric, result.provenance.benchmark) == ("synthetic.late-ridgefixed", "ridgefixed", "synthetic.late-ridgefixed")


def test_memory_limited_extraction_scores_the_same_and_duplicates_once(generator_results):
    reference = generator_results["synthetic.late"]
    from brainbench.extraction.plan import plan_extraction

    model = brainbench.get_model("synthetic_generator")
    stimuli = brainbench.get_dataset("synthetic").stimulus_set()
    assert len(plan_extraction(model, stimuli, memory_limit="2MB", cache=False).passes) > 1
    limited = brainbench.score(model, "synthetic.late", progress=False, memory_limit="2MB", cache=False)
    assert limited.layer == reference.layer and limited.layers == reference.layers and limited.raw == reference.raw
    both = brainbench.score("synthetic_generator", "synthetic.late", layers=["block3", "block3.2", "depth:0-0.05"],
                            progress=False)
    assert list(both.layers) == ["block1.0", "block3.2", "block3"]
    assert both.layers["block3"] == both.layers["block3.2"] == reference.layers["block3"]
