"""cowley2023: the real V4 recordings, fetched through the mirror (../shared/data), as trials with
repetitions, a split-half ceiling, and a benchmark that scores offline."""

from pathlib import Path

import numpy as np
import pytest

import brainbench
from brainbench.data.assembly import average_repetitions, trials_by_repetition, validate_assembly
from brainbench.scoring.ceiling import split_half_reliability
from helpers.paths import SHARED_DATA

SHARED = SHARED_DATA / "cowley2023_v4"
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not beside this checkout")


@pytest.fixture(scope="module")
def dataset():
    return brainbench.get_dataset("cowley2023")


def test_trials_average_to_the_publishers_repeat_averaged_responses(dataset):
    trials = dataset.assembly()
    assert trials.sizes["neuroid"] == 50 and set(trials["region"].values) == {"V4"}
    reps = trials.groupby("stimulus_id").count("presentation").isel(neuroid=0).values
    assert reps.min() == 6 and reps.max() == 10  # NaN padding dropped
    averaged = average_repetitions(trials)
    published = np.load(SHARED / "responses_avg_210325.npy")  # (units, images)
    order = [int(s.split("_")[1]) - 1 for s in averaged["stimulus_id"].values]
    np.testing.assert_array_equal(averaged.values, published[:, order].T)


def test_stimuli_line_up_with_the_responses(dataset):
    stimuli = dataset.stimulus_set()
    trials = dataset.assembly()
    validate_assembly(trials, stimulus_set=stimuli, allow_nan=True)
    assert len(stimuli) == 640 and stimuli.ids[0] == "210325_0001"
    assert set(trials["stimulus_id"].values.astype(str)) == set(stimuli.ids)
    assert stimuli.image("210325_0640").size == (112, 112)


def test_split_half_ceiling_on_the_real_repeats(dataset):
    _, by_rep = trials_by_repetition(dataset.assembly())
    rho = split_half_reliability(by_rep, seed=0)
    # the publisher's data, odd/even halves: median Spearman-Brown 0.77 (range 0.34-0.88)
    assert 0.7 < np.median(rho) < 0.8 and rho.min() > 0.2 and rho.max() < 0.95


def test_other_sessions_are_repeat_averaged_datasets():
    ds = brainbench.get_dataset("cowley2023_210224")
    assembly = ds.assembly()
    assert assembly.sizes == {"presentation": 800, "neuroid": 67} and "repetition" not in assembly.coords
    assert ds.stimulus_set().ids == list(assembly["stimulus_id"].values)


def test_cowley_benchmark_scores_offline_with_a_ceiling():
    result = brainbench.score("synthetic_generator", "cowley2023.V4", progress=False)
    assert result.ceiling == pytest.approx(np.mean(np.sqrt(np.clip(result.neuroids["reliability"], 0, None))), abs=1e-5)
    assert 0.8 < result.ceiling < 0.9
    assert result.normalised == pytest.approx(result.raw / result.ceiling)
    assert result.subjects["PE"].n_neuroids == 50 and result.provenance.stimulus_set == "cowley2023-210325"
