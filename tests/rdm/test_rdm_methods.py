"""RDM distances and comparisons against their references: scipy (kendalltau, spearmanr, pdist), rsatoolbox
(tau-a, rho-a, cosine, crossnobis) and the definitions; chunked Gram matrices; conversion to rsatoolbox."""

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau

import brainbench.rdm.distances as rdm_module
from brainbench import SplitSpec
from brainbench.data.assembly import neural_assembly
from brainbench.errors import AssemblyError, ConfigError
from brainbench.rdm.interop import from_rsatoolbox, to_rsatoolbox
from brainbench.plugins.metrics.rsa import RSA
from brainbench.rdm.comparisons import compare
from brainbench.rdm.distances import crossnobis, dissimilarity, noise_precision, rdms_of_responses
from brainbench.rdm.rdms import rdm_assembly
from brainbench.scoring.splits import make_splits

rsatoolbox = pytest.importorskip("rsatoolbox")


def tied_vectors(seed=0, m=300):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=m)
    b = np.round(a + rng.normal(size=m), 1)  # many ties
    b[:40] = 0.0
    return a, b


def tau_a_by_definition(a, b):
    s = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in itertools.combinations(range(len(a)), 2))
    return s / (len(a) * (len(a) - 1) / 2)


def test_tau_a_equals_its_definition_and_rsatoolbox():
    a, b = tied_vectors()
    ours = compare(a, b, "tau_a")
    assert compare(a[:120], b[:120], "tau_a") == pytest.approx(tau_a_by_definition(a[:120], b[:120]), abs=1e-12)
    reference = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(a[None]), rsatoolbox.rdm.RDMs(b[None]), method="tau-a")
    assert ours == pytest.approx(float(reference[0, 0]), abs=1e-12)
    assert ours < kendalltau(a, b).statistic  # tau-a penalises the ties that tau-b forgives


@pytest.mark.parametrize(("ours", "theirs"), [("rho_a", "rho-a"), ("cosine", "cosine"), ("spearman", "spearman"),
                                              ("pearson", "corr")])
def test_comparisons_equal_rsatoolbox(ours, theirs):
    a, b = tied_vectors(1)
    reference = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(a[None]), rsatoolbox.rdm.RDMs(b[None]), method=theirs)
    assert compare(a, b, ours) == pytest.approx(float(reference[0, 0]), abs=1e-12)


def test_comparisons_broadcast_and_reject_unknown_names():
    a, b = tied_vectors(2)
    many = np.stack([b, -b, b + 1])
    assert np.allclose(compare(a[None], many, "tau_a"), [compare(a, v, "tau_a") for v in many])
    assert np.isnan(compare(a, np.ones_like(a), "tau_a"))
    with pytest.raises(ConfigError, match="kendall.*not one of"):  # one error type for every caller (issue 20)
        compare(a, b, "kendall")
    with pytest.raises(ConfigError, match="comparison 'kendall'"):
        RSA(comparison="kendall")


@pytest.mark.parametrize("distance", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_chunked_gram_equals_one_piece(distance, monkeypatch):
    X = np.random.default_rng(3).normal(2.0, 1.0, (30, 101)).astype(np.float32)
    whole = dissimilarity(X, distance)
    monkeypatch.setattr(rdm_module, "CHUNK_BYTES", 8 * 30 * 7)  # 7 features at a time, last chunk shorter
    chunked = dissimilarity(X, distance)
    assert np.allclose(chunked, whole, atol=1e-12)
    assert np.allclose(chunked, squareform(pdist(X.astype(np.float64), distance)), atol=1e-9)


def repeated_patterns(seed=4, reps=4, n=12, p=15):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, p))
    return signal, signal + rng.normal(0, 0.7, (reps, n, p))


def rsatoolbox_crossnobis(by_rep, noise=None):
    reps, n, p = by_rep.shape
    data = rsatoolbox.data.Dataset(
        by_rep.reshape(-1, p),
        obs_descriptors={"stimulus": np.tile(np.arange(n), reps), "run": np.repeat(np.arange(reps), n)})
    out = rsatoolbox.rdm.calc_rdm(data, method="crossnobis", descriptor="stimulus", cv_descriptor="run", noise=noise)
    return out.get_matrices()[0]


def test_crossnobis_equals_rsatoolbox_with_identity_and_estimated_noise():
    _, by_rep = repeated_patterns()
    assert np.allclose(crossnobis(by_rep), rsatoolbox_crossnobis(by_rep), atol=1e-10)
    precision = noise_precision(by_rep)
    assert np.allclose(crossnobis(by_rep, precision), rsatoolbox_crossnobis(by_rep, precision), atol=1e-10)


def test_crossnobis_is_unbiased_where_averaging_is_not():
    signal, _ = repeated_patterns(p=40)
    truth = squareform(pdist(signal, "sqeuclidean")) / signal.shape[1]
    rng = np.random.default_rng(5)
    cross, naive = [], []
    for _ in range(200):
        by_rep = signal + rng.normal(0, 1.0, (3, *signal.shape))
        cross.append(crossnobis(by_rep))
        naive.append(dissimilarity(by_rep.mean(0), "sqeuclidean") / signal.shape[1])
    off = ~np.eye(len(signal), dtype=bool)
    assert abs((np.mean(cross, 0) - truth)[off].mean()) < 0.05  # noise adds 2 sigma^2/reps = 0.67 to naive
    assert (np.mean(naive, 0) - truth)[off].mean() > 0.6


def test_crossnobis_needs_complete_repetitions_and_rsa_uses_it_on_trials():
    signal, by_rep = repeated_patterns(n=20)
    reps, n, p = by_rep.shape
    ids = [f"s{i}" for i in range(n)]
    trials = neural_assembly(by_rep.reshape(-1, p), stimulus_id=np.tile(ids, reps), neuroid_id=[f"v{j}" for j in range(p)],
                             region="r", subject="a", repetition=np.repeat(np.arange(reps), n))
    rdms = rdms_of_responses(trials, "crossnobis")
    assert np.allclose(rdms.values[0], crossnobis(by_rep), atol=1e-12)
    with pytest.raises(AssemblyError, match="averaged"):
        rdms_of_responses(trials.groupby("stimulus_id").mean().rename(stimulus_id="presentation")
                          .assign_coords(stimulus_id=("presentation", ids)), "crossnobis")
    broken = by_rep.copy()
    broken[2, 5] = np.nan
    with pytest.raises(AssemblyError, match="1 of 20 stimuli"):
        crossnobis(broken)
    import xarray as xr

    features = xr.DataArray(signal, dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids)})
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=2, test_size=0.5), n)
    result = RSA(distance="crossnobis")(features, trials, splits)
    from scipy.stats import spearmanr

    expected = spearmanr(pdist(signal[splits[0].test], "sqeuclidean"),
                         squareform(crossnobis(by_rep[:, splits[0].test]), checks=False)).statistic
    assert result.test.values[0, 0] == pytest.approx(expected, abs=1e-10)


def test_rdms_round_trip_through_rsatoolbox():
    rng = np.random.default_rng(6)
    vectors = rng.random((3, 10))  # 5 stimuli
    ours = rdm_assembly(vectors, stimulus_id=list("abcde"), subject=["s1", "s2", "s3"], region="IT",
                        rdm_coords={"session": [1, 1, 2]}, attrs={"distance": "correlation"})
    theirs = to_rsatoolbox(ours)
    assert np.allclose(theirs.get_vectors(), vectors) and theirs.pattern_descriptors["stimulus_id"] == list("abcde")
    assert list(theirs.rdm_descriptors["subject"]) == ["s1", "s2", "s3"]
    back = from_rsatoolbox(theirs)
    assert np.array_equal(back.values, ours.values) and list(back["session"].values) == [1, 1, 2]
    assert back.attrs["distance"] == "correlation" and list(back["region"].values) == ["IT"] * 3
    # rsatoolbox's own comparison applies to our RDMs and agrees with ours
    model = rsatoolbox.rdm.RDMs(rng.random((1, 10)))
    assert np.allclose(rsatoolbox.rdm.compare(model, theirs, method="spearman")[0],
                       compare(model.get_vectors()[0], vectors, "spearman"))
    with pytest.raises(ConfigError, match="region"):
        from_rsatoolbox(rsatoolbox.rdm.RDMs(vectors))
