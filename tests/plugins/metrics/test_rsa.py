"""RSA: RDMs against scipy's pdist, the metric against a direct scipy computation, RDM-target benchmarks
end to end (known generating layer, Nili bounds on the held-out stimuli), the split-half RDM ceiling
against simulation, and the real 92-image and 78-image benchmarks through the mirror."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

import brainbench
from brainbench import DatasetCard, SplitSpec
from brainbench.data.assembly import neural_assembly
from brainbench.registry.contracts import Dataset
from brainbench.errors import BrainbenchError, CeilingWarning
from brainbench.plugins.metrics.rsa import RSA
from brainbench.rdm.ceilings import noise_ceiling
from brainbench.rdm.distances import dissimilarity
from brainbench.rdm.rdms import rdm_assembly
from brainbench.scoring.splits import make_splits
from brainbench.testing import tiny_stimulus_set
from helpers.paths import SHARED_DATA

SHARED = SHARED_DATA
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not beside this checkout")


@pytest.mark.parametrize("distance", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_dissimilarity_equals_scipy_pdist(distance):
    X = np.random.default_rng(0).normal(3.0, 1.0, (40, 25))
    assert np.allclose(dissimilarity(X, distance), squareform(pdist(X, distance)), atol=1e-10)


def test_a_constant_stimulus_is_uncorrelated_with_every_other():
    X = np.random.default_rng(1).normal(size=(6, 10))
    X[2] = 5.0
    d = dissimilarity(X)
    assert np.isfinite(d).all() and np.allclose(np.delete(d[2], 2), 1.0) and d[2, 2] == 0


def features_of(X, ids):
    return xr.DataArray(X, dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids)})


def test_rsa_equals_scipy_on_each_split_and_aligns_by_id():
    rng = np.random.default_rng(2)
    n, ids = 30, [f"s{i}" for i in range(30)]
    X, R = rng.normal(size=(n, 20)), rng.normal(size=(n, 8))
    R[:, :4] += X[:, :4]  # shared structure
    target = neural_assembly(R, stimulus_id=ids, neuroid_id=[f"n{j}" for j in range(8)], region="r",
                             subject=["a"] * 4 + ["b"] * 4)
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=3, test_size=0.5), n)
    perm = rng.permutation(n)  # features in another order than the target: aligned by id
    result = RSA()(features_of(X[perm], [ids[i] for i in perm]), target, splits)
    assert result.test.dims == ("split", "rdm") and list(result.test["subject"].values) == ["a", "b"]
    for k, split in enumerate(splits):
        for part, index in (("train", split.train), ("test", split.test)):
            for u, cols in enumerate((slice(0, 4), slice(4, 8))):
                expected = spearmanr(pdist(X[index], "correlation"), pdist(R[index, cols], "correlation")).statistic
                assert getattr(result, part).values[k, u] == pytest.approx(expected, abs=1e-10)
    rdms = rdm_assembly(np.stack([squareform(pdist(R[:, :4], "correlation"))]), stimulus_id=ids, subject=["a"], region="r")
    on_rdms = RSA()(features_of(X, ids), rdms, splits)  # an RDM target gives the same as the responses it came from
    assert np.allclose(on_rdms.test.values[:, 0], result.test.values[:, 0])


class RDMToy(Dataset):
    """Subject RDMs = the generator's ``block2`` RDM + symmetric noise (known answer: block2 wins)."""

    noise = (0.005, 0.01, 0.015, 0.02)  # the base RDM's entries spread by 0.008: subjects agree (lower bounds 0.4-0.7)
    n = 60

    def __init__(self):
        self.card = DatasetCard(name="rdmtoy", species="none", recording="synthetic RDMs", regions=["r"])

    def stimulus_set(self):
        return tiny_stimulus_set(n=self.n, seed=3)

    def assembly(self, region=None, subjects=None):
        stimuli = self.stimulus_set()
        X = brainbench.get_model("synthetic_generator").extract(stimuli, ["block2"], progress=False)["block2"]
        base = dissimilarity(X.values)
        rng = np.random.default_rng(4)
        rdms = []
        for sd in self.noise:
            e = rng.normal(0, sd, base.shape)
            d = base + (e + e.T) / 2
            np.fill_diagonal(d, 0)
            rdms += [d, d]  # two "sessions" per subject, averaged by the scorer
        subjects = [f"S{i}" for i in range(len(self.noise)) for _ in range(2)]
        return rdm_assembly(np.stack(rdms), stimulus_id=stimuli.ids, subject=subjects, region="r")


@pytest.fixture
def rdmtoy(dataset_plugin):
    dataset_plugin(RDMToy,
                   {"id": "rdmtoy.r", "dataset": "rdmtoy", "region": "r", "metric": "rsa", "ceiling": "nili",
                    "version": "1", "splits": {"kind": "shuffle", "n_splits": 4, "test_size": 0.5, "seed": 0}},
                   {"id": "rdmtoy.r-ridge", "dataset": "rdmtoy", "region": "r", "metric": "ridge", "ceiling": "none",
                    "version": "1"})
    return RDMToy


def test_rdm_benchmark_known_layer_and_nili_bounds_on_held_out_stimuli(rdmtoy):
    result = brainbench.score("synthetic_generator", "rdmtoy.r", progress=False)
    assert result.layer == "block2" and result.unit == "rdm"
    assert list(result.subjects) == ["S0", "S1", "S2", "S3"] and all(s.n_neuroids == 1 for s in result.subjects.values())
    rdms = RDMToy().assembly().values[::2]  # one per subject (the two sessions are equal)
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=4, test_size=0.5, seed=0), RDMToy.n)
    bounds = np.array([noise_ceiling(rdms[:, s.test][:, :, s.test]) for s in splits]).mean(0)
    assert (result.ceiling_lower, result.ceiling) == pytest.approx(tuple(bounds), abs=1e-9)
    assert result.ceiling_lower < result.ceiling and result.notes == []
    for s in result.subjects.values():
        assert s.normalised == pytest.approx(s.raw / s.ceiling)
    assert result.subjects["S0"].raw > result.subjects["S3"].raw  # less noise, closer to the model
    assert result.provenance.ceiling_rule.startswith("v2: RDM targets")
    assert brainbench.ScoreResult.from_json(result.to_json()) == result


def test_rdm_targets_need_an_rsa_metric(rdmtoy):
    with pytest.raises(BrainbenchError, match=r"RDMs only.*'ridge' \(kind encoding\) cannot score; use an RSA metric"):
        brainbench.score("synthetic_generator", "rdmtoy.r-ridge", progress=False)


class Repeats(Dataset):
    """Responses = a fixed signal + trial noise of a set size, 8 repetitions."""

    def __init__(self):
        self.card = DatasetCard(name="repeats", species="none", recording="synthetic", regions=["r"])

    def stimulus_set(self):
        return tiny_stimulus_set(n=80, seed=5)

    def assembly(self, region=None, subjects=None):
        signal, reps = Repeats.signal(), 8
        noise = np.random.default_rng(7).normal(0, 1.5, (reps,) + signal.shape)
        trials = (signal[None] + noise).reshape(-1, signal.shape[1])
        ids = self.stimulus_set().ids
        return neural_assembly(trials, stimulus_id=ids * reps, repetition=np.repeat(np.arange(reps), len(ids)),
                               neuroid_id=[f"n{j}" for j in range(signal.shape[1])], region="r", subject="m")

    @staticmethod
    def signal():
        return np.random.default_rng(6).normal(size=(80, 30))


def test_split_half_rdm_ceiling_matches_simulated_data(dataset_plugin):
    """The ceiling estimates how well the true RDM correlates with the measured (repeat-mean) RDM."""
    dataset_plugin(Repeats, {"id": "repeats.r", "dataset": "repeats", "region": "r", "metric": "rsa",
                             "ceiling": "split_half", "version": "1",
                             "splits": {"kind": "shuffle", "n_splits": 5, "test_size": 0.5, "seed": 0}})
    result = brainbench.score("synthetic_generator", "repeats.r", progress=False, layers=["block1"])
    true = dissimilarity(Repeats.signal())
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=5, test_size=0.5, seed=0), 80)
    rng = np.random.default_rng(8)
    expected = []
    for _ in range(20):  # fresh experiments: how close is the measured RDM to the true one?
        measured = dissimilarity(Repeats.signal() + rng.normal(0, 1.5, (8, 80, 30)).mean(0))
        expected += [spearmanr(squareform(true[np.ix_(s.test, s.test)], checks=False),
                               squareform(measured[np.ix_(s.test, s.test)], checks=False)).statistic for s in splits]
    assert result.ceiling == pytest.approx(np.mean(expected), abs=0.03)
    assert result.provenance.ceiling_rule.startswith("v2: RSA on responses")


@needs_shared
def test_92_object_benchmarks_score_through_rsa():
    result = brainbench.score("synthetic_generator", "kriegeskorte2008.IT", progress=False)
    assert list(result.subjects) == ["BE", "KO", "SN", "TI"] and result.unit == "rdm"
    assert 0.3 < result.ceiling_lower < result.ceiling < 0.8 and result.notes == [] and result.normalised is not None
    monkey = brainbench.score("synthetic_generator", "kriegeskorte2008.mIT", progress=False)
    assert monkey.ceiling is None and list(monkey.subjects) == ["monkey"]


@needs_shared
def test_algonauts_rdms_and_a_ceiling_near_zero_is_said():
    dataset = brainbench.get_dataset("algonauts2019")
    it = dataset.assembly("IT")
    assert it.sizes == {"rdm": 15, "stimulus": 78, "stimulus_b": 78}
    assert dataset.stimulus_set().image("image_01").mode == "RGB"
    with pytest.warns(CeilingWarning, match="too unreliable to normalise.*barely agree"):
        result = brainbench.score("synthetic_generator", "algonauts2019.EVC", progress=False)
    assert result.ceiling_lower < 0.05 and "cannot tell models apart" in result.notes[0]
    # subjects that barely agree give no ceiling to divide by: the raw score stands alone
    assert result.normalised is None and all(s.normalised is None for s in result.subjects.values())
    assert result.raw == pytest.approx(np.mean([s.raw for s in result.subjects.values()]))
