"""Split protocols and split-half ceilings against known answers."""

import numpy as np
import pytest

from brainbench import SplitSpec
from brainbench.scoring.ceiling import internal_consistency, spearman_brown, split_half_reliability
from brainbench.errors import AssemblyError, SplitError
from brainbench.scoring.splits import make_splits


def test_kfold_partitions_every_stimulus_once_and_is_deterministic():
    splits = make_splits(SplitSpec(kind="kfold", n_splits=5, seed=3), 23)
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(23))
    for s in splits:
        assert not set(s.train) & set(s.test) and len(s.train) + len(s.test) == 23
    again = make_splits(SplitSpec(kind="kfold", n_splits=5, seed=3), 23)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again))


def test_stratified_shuffle_splits_keep_class_proportions():
    strata = ["car"] * 50 + ["dog"] * 50
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=10, test_size=0.1, seed=1, stratify_by="object_name"), 100, strata)
    assert len(splits) == 10
    for s in splits:
        labels = np.asarray(strata)[s.test]
        assert len(s.test) == 10 and (labels == "car").sum() == 5


@pytest.mark.parametrize(("n", "spec"), [(10, SplitSpec(n_splits=5)), (4, SplitSpec(kind="shuffle", n_splits=3, test_size=0.5))])
def test_too_few_stimuli_for_the_protocol(n, spec):
    with pytest.raises(SplitError, match=f"{n} stimuli are too few"):
        make_splits(spec, n)


def test_spearman_brown_closed_form():
    assert spearman_brown(np.array(0.5)) == pytest.approx(2 / 3)
    assert spearman_brown(np.array(0.5), factor=3) == pytest.approx(0.75)


@pytest.mark.parametrize(("noise_sd", "reps"), [(1.0, 4), (2.0, 4), (0.5, 6)])
def test_split_half_reliability_recovers_the_injected_noise(noise_sd, reps):
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((2000, 30))
    signal = (signal - signal.mean(0)) / signal.std(0)
    trials = signal[None] + noise_sd * rng.standard_normal((reps, *signal.shape))
    expected = 1 / (1 + noise_sd**2 / reps)  # reliability of the mean of `reps` trials
    assert split_half_reliability(trials).mean() == pytest.approx(expected, abs=0.01)


def test_split_half_needs_two_repetitions():
    with pytest.raises(AssemblyError, match="at least 2 repetitions"):
        split_half_reliability(np.ones((1, 5, 2)))


def test_a_fixed_split_tests_the_marked_stimuli():
    spec = SplitSpec(kind="fixed", test_by="shared1000")
    split, = make_splits(spec, 10, ["true", "FALSE", 1, 0, "False", "True", "0", "1", "false", "false"])
    assert split.test.tolist() == [0, 2, 5, 7] and split.train.tolist() == [1, 3, 4, 6, 8, 9]
    with pytest.raises(SplitError, match="must be true/false; it holds e.g. \\['maybe'\\]"):
        make_splits(spec, 8, [True] * 4 + ["maybe"] + [False] * 3)
    with pytest.raises(SplitError, match="leaves 2 training and 6 test stimuli"):
        make_splits(spec, 8, np.arange(8) >= 2)
    with pytest.raises(ValueError, match="needs test_by"):
        SplitSpec(kind="fixed")
    with pytest.raises(ValueError, match="test_by belongs to the fixed split kind"):
        SplitSpec(kind="kfold", test_by="shared1000")


@pytest.mark.parametrize(("reps", "brainscore"), [(3, 0.6580435408482354), (4, 0.7484450731486966), (7, 0.8497956343481965)])
def test_internal_consistency_is_brainscores(reps, brainscore):
    """Known answers: brainscore_vision 2.4.2's ``InternalConsistency()`` on these trials (a NeuroidAssembly with
    ``repetition`` 0..reps-1) gave ``brainscore``; re-derived here with scikit-learn's ShuffleSplit and scipy."""
    from scipy.stats import pearsonr
    from sklearn.model_selection import ShuffleSplit

    rng = np.random.default_rng(0)
    signal = rng.normal(size=(40, 6))
    trials = np.stack([signal + rng.normal(0, 0.5 + 0.3 * np.arange(6), signal.shape) for _ in range(reps)])
    halvings = internal_consistency(trials)
    assert np.median(halvings, axis=1).mean() == pytest.approx(brainscore, abs=1e-12)
    for row, (a, b) in zip(halvings, ShuffleSplit(10, train_size=0.5, random_state=1).split(np.zeros(reps)), strict=True):
        r = np.array([pearsonr(trials[a, :, j].mean(0), trials[b, :, j].mean(0))[0] for j in range(6)])
        np.testing.assert_allclose(row, 2 * r / (1 + r), atol=1e-12)
