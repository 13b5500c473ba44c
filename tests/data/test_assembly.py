"""Assemblies: construction, the validator's messages, selection and averaging over repetitions."""

import numpy as np
import pandas as pd
import pytest

from brainbench.data.assembly import average_repetitions, neural_assembly, select, trials_by_repetition, validate_assembly
from brainbench.errors import AssemblyError
from brainbench.testing import tiny_stimulus_set


def trials(n_stim=5, reps=3, n_neuroids=4, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"tiny{i:03d}" for i in range(n_stim)]
    return neural_assembly(
        rng.standard_normal((n_stim * reps, n_neuroids)),
        stimulus_id=ids * reps,
        repetition=np.repeat(np.arange(reps), n_stim),
        neuroid_id=[f"n{i}" for i in range(n_neuroids)],
        region=["V4", "V4", "IT", "IT"][:n_neuroids],
        subject=["a", "b", "a", "b"][:n_neuroids],
    )


def test_average_repetitions_matches_pandas_groupby():
    a = trials()
    frame = pd.DataFrame(a.values).assign(stimulus_id=a["stimulus_id"].values)
    expected = frame.groupby("stimulus_id", sort=False).mean()
    got = average_repetitions(a)
    assert list(got["stimulus_id"].values) == list(expected.index)
    np.testing.assert_allclose(got.values, expected.values)
    assert "repetition" not in got.coords and list(got["region"].values) == ["V4", "V4", "IT", "IT"]


def test_average_ignores_nan_padding_and_reshapes_by_repetition():
    a = trials(n_stim=2, reps=2, n_neuroids=1)
    values = a.values.copy()
    values[3, 0] = np.nan  # stimulus 1 lost its second trial
    a = a.copy(data=values)
    validate_assembly(a, allow_nan=True)
    assert average_repetitions(a).values[1, 0] == pytest.approx(values[1, 0])
    ids, by_rep = trials_by_repetition(a)
    assert ids == ["tiny000", "tiny001"] and by_rep.shape == (2, 2, 1) and np.isnan(by_rep[1, 1, 0])


def test_select_by_region_and_subject_and_unknown_values():
    a = trials()
    assert list(select(a, "IT", ["b"])["neuroid_id"].values) == ["n3"]
    with pytest.raises(AssemblyError, match=r"no neuroids with region \['V1'\]; the assembly has \['IT', 'V4'\]"):
        select(a, "V1")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a.drop_vars("stimulus_id"), "coord 'stimulus_id' on 'presentation' is missing"),
        (lambda a: a.drop_vars("neuroid_id"), "coord 'neuroid_id' on 'neuroid' is missing"),
        (lambda a: a.drop_vars(["region", "subject"]), "coord 'region'.*\n.*coord 'subject'"),
        (lambda a: a.copy(data=np.where(np.arange(a.size).reshape(a.shape) == 5, np.nan, a.values)), "1 values are NaN or infinite.*presentation 1, neuroid 1"),
        (lambda a: a.copy(data=np.full(a.shape, np.inf)), "values are NaN or infinite"),
        (lambda a: a.transpose(), r"dims are \('neuroid', 'presentation'\)"),
        (lambda a: a.drop_vars("repetition"), "stimulus_id repeats but there is no 'repetition' coord"),
    ],
    ids=["no-stimulus-id", "no-neuroid-id", "no-region-subject", "nan", "inf", "wrong-dims", "repeats-without-repetition"],
)
def test_validator_says_exactly_what_is_wrong(mutate, message):
    with pytest.raises(AssemblyError, match=message):
        validate_assembly(mutate(trials()))


def test_stimulus_ids_must_match_the_stimulus_set():
    a = trials(n_stim=5)
    validate_assembly(a, stimulus_set=tiny_stimulus_set(n=5))
    with pytest.raises(AssemblyError, match=r"2 stimulus ids are not in stimulus set 'tiny-3-32-0', e.g. \['tiny003', 'tiny004'\]"):
        validate_assembly(a, stimulus_set=tiny_stimulus_set(n=3))
