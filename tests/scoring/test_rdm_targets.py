"""RDM targets: the 92-object set's human- and monkey-IT RDMs (real data through the mirror), the RDM
comparison against scipy, and the across-subject noise ceiling against a direct computation."""

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

import brainbench
from brainbench.errors import AssemblyError
from brainbench.rdm.ceilings import noise_ceiling
from brainbench.rdm.comparisons import compare
from brainbench.rdm.rdms import rdm_assembly, upper_triangle
from helpers.paths import SHARED_DATA

SHARED = SHARED_DATA / "kriegeskorte2008_92images"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not beside this checkout")


def test_compare_equals_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.random(300), rng.random(300)
    b[:50] = a[:50]  # some ties and shared structure
    assert compare(a, b, "spearman") == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert compare(a, b, "pearson") == pytest.approx(pearsonr(a, b).statistic, abs=1e-12)


def test_noise_ceiling_equals_a_direct_leave_one_out_computation():
    rng = np.random.default_rng(1)
    shared = rng.random((20, 20))
    rdms = []
    for _ in range(5):
        m = shared + rng.normal(0, 0.3, (20, 20))
        m = (m + m.T) / 2
        np.fill_diagonal(m, 0)
        rdms.append(m)
    rdms = np.stack(rdms)
    ranks = rankdata(upper_triangle(rdms), axis=1)  # Nili et al.: rank-transform, then average
    lower = np.mean([spearmanr(ranks[s], np.delete(ranks, s, 0).mean(0)).statistic for s in range(5)])
    upper = np.mean([spearmanr(ranks[s], ranks.mean(0)).statistic for s in range(5)])
    assert noise_ceiling(rdms) == pytest.approx((lower, upper), abs=1e-12)
    assert 0 < lower < upper < 1


def test_bad_rdms_are_clear_errors():
    good = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)
    with pytest.raises(AssemblyError, match="symmetric"):
        rdm_assembly(np.stack([good + np.triu(np.ones((3, 3)), 1)]), stimulus_id="abc", subject=["s"], region="IT")
    nan = good.copy()
    nan[0, 1] = nan[1, 0] = np.nan
    with pytest.raises(AssemblyError, match=r"subjects \['s2'\]"):
        rdm_assembly(np.stack([good, nan]), stimulus_id="abc", subject=["s1", "s2"], region="IT")


@needs_shared
def test_92_object_set_monkey_and_human_it():
    dataset = brainbench.get_dataset("kriegeskorte2008")
    human, monkey = dataset.assembly("IT"), dataset.assembly("mIT")
    assert human.sizes["rdm"] == 8 and sorted(set(human["subject"].values)) == ["BE", "KO", "SN", "TI"]
    # the known answer on these files: Spearman(mean of the 8 hIT RDMs, mIT) = 0.439
    r = compare(upper_triangle(human.values.mean(0)), upper_triangle(monkey.values[0]))
    assert r == pytest.approx(0.439, abs=5e-4)
    lower, upper = noise_ceiling(human.groupby("subject").mean("rdm").values)
    assert 0 < lower < upper < 1
    stimuli = dataset.stimulus_set()
    assert stimuli.ids == list(human["stimulus_id"].values) and stimuli.image("obj01").size == (175, 175)
    counts = stimuli.table[["animate", "inanim", "face", "body"]].sum()
    assert counts.tolist() == [48, 44, 24, 24]  # the set's known category structure
    with pytest.raises(AssemblyError, match="rdms with region"):
        dataset.assembly("V1")
