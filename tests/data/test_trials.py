"""No trial and no image is silently dropped or swapped: every reader and reshaper of trials, stimuli and images
keeps one-to-one what it was given, or refuses with an error naming the colliding keys.

The policy (brainbench.data.assembly): repeated (stimulus_id, repetition) pairs are renumbered by the builders and
readers, keeping every trial, with a DataWarning; an assembly that reaches a reshaper with repeated pairs anyway is
refused. Ids that collide (neuroids, stimuli, image files) are refused, naming them."""

import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers.brainio_layout import write_brainio_file
from click.testing import CliRunner
from PIL import Image

import brainbench
from brainbench.data.assembly import (align_features, average_repetitions, neural_assembly, trials_by_repetition,
                                 validate_assembly)
from brainbench.registry.cards import BenchmarkSpec
from brainbench.cli.commands import main
from brainbench.scoring.ceiling import split_half_reliability
from brainbench.errors import AssemblyError, DataFileError, DataWarning
from brainbench.registry.user_datasets import import_folder
from brainbench.data.netcdf import as_neural_assembly, read_assembly, read_stimulus_set
from brainbench.rdm.distances import crossnobis, rdms_of_responses
from brainbench.rdm.rdms import rdm_assembly
from brainbench.scoring.splits import make_splits
from brainbench.data.stimuli import StimulusSet
from brainbench.scoring.targets import Target, ceilings

N_STIM, N_NEUROIDS = 20, 6


def two_sessions(seed=0):
    """20 stimuli recorded in two sessions, each numbering its repetitions 0 and 1: 80 trials, in session order,
    and the same trials by hand as (trial of the stimulus, stimulus, neuroid) in the order they were given."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(N_STIM, N_NEUROIDS))
    ids = [f"s{i:02d}" for i in range(N_STIM)]
    stimulus, repetition, session, values = [], [], [], []
    for sess in (1, 2):
        for rep in (0, 1):
            stimulus += ids
            repetition += [rep] * N_STIM
            session += [sess] * N_STIM
            values.append(signal + rng.normal(0, 0.7, signal.shape))
    by_hand = np.stack(values)  # (4, 20, 6): the k-th trial of each stimulus, in the order given
    return ids, stimulus, repetition, session, np.concatenate(values), by_hand


def test_the_issue_example_every_one_of_80_trials_is_used_by_averaging_ceiling_and_crossnobis():
    ids, stimulus, repetition, session, values, by_hand = two_sessions()
    with pytest.warns(DataWarning, match=r"40 \(stimulus_id, repetition\) pairs name more than one trial \(\('s00', 0\) "
                                         r"2x.*every trial is kept, and the 80 trials of the 20 stimuli"):
        a = neural_assembly(values, stimulus_id=stimulus, repetition=repetition, neuroid_id=[f"n{i}" for i in range(6)],
                            region="V4", subject="m", presentation_coords={"session": session})
    assert a.sizes["presentation"] == 80
    assert a["repetition"].values.tolist() == [0] * 20 + [1] * 20 + [2] * 20 + [3] * 20  # in the order given
    assert a["repetition_given"].values.tolist() == repetition and a["session"].values.tolist() == session
    # averaging: all 4 trials of each stimulus (pandas' groupby mean of the 80 rows)
    expected = pd.DataFrame(values).groupby(np.array(stimulus), sort=False).mean()
    np.testing.assert_allclose(average_repetitions(a).values, expected.values)
    # the reshape the ceilings and crossnobis use: 4 trials x 20 stimuli, each trial once
    got_ids, by_rep = trials_by_repetition(a)
    assert got_ids == ids and by_rep.shape == (4, N_STIM, N_NEUROIDS)
    assert int(np.isfinite(by_rep).all(2).sum()) == 80
    np.testing.assert_array_equal(by_rep, by_hand)
    # the split-half ceiling of a benchmark: the reliability of all 80 trials (40 would give another value)
    spec = BenchmarkSpec(id="sessions.V4", dataset="sessions", region="V4", metric="ridge", ceiling="split_half",
                         version="1", splits={"kind": "kfold", "n_splits": 5, "seed": 0})
    target = Target(average_repetitions(a), ids, "neuroid", trials=a)
    ceiling = ceilings(spec, target, make_splits(spec.splits, N_STIM))
    np.testing.assert_allclose(ceiling.reliability, split_half_reliability(by_hand, seed=0))
    assert not np.allclose(ceiling.reliability, split_half_reliability(by_hand[2:], seed=0))
    # crossnobis over 4 folds, not 2
    rdm = rdms_of_responses(a, "crossnobis").values[0]
    np.testing.assert_allclose(rdm, crossnobis(by_hand), atol=1e-12)
    assert not np.allclose(rdm, crossnobis(by_hand[2:]))


def test_a_brainio_file_of_two_sessions_is_read_with_every_trial(tmp_path):
    ids, stimulus, repetition, session, values, by_hand = two_sessions(seed=1)
    neuroid = {"neuroid_id": [f"n{i}" for i in range(N_NEUROIDS)], "region": ["IT"] * N_NEUROIDS,
               "animal": ["m"] * N_NEUROIDS}
    write_brainio_file(tmp_path / "a.nc", values, {"stimulus_id": stimulus, "repetition": repetition,
                                                   "session": session}, neuroid)
    with pytest.warns(DataWarning, match="40 \\(stimulus_id, repetition\\) pairs"):
        a = as_neural_assembly(read_assembly(tmp_path / "a.nc"))
    assert a.sizes["presentation"] == 80
    np.testing.assert_array_equal(trials_by_repetition(a)[1], by_hand)


def images(folder, ids, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for sid in ids:
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{sid}.png")


def test_a_responses_csv_keeps_every_row_as_a_trial(tmp_path):
    ids, stimulus, repetition, _, values, by_hand = two_sessions(seed=2)
    images(tmp_path / "imgs", ids)
    table = pd.DataFrame(values, columns=[f"n{i}" for i in range(N_NEUROIDS)])
    table.insert(0, "repetition", repetition)
    table.insert(0, "stimulus_id", stimulus)
    table.to_csv(tmp_path / "r.csv", index=False)
    with pytest.warns(DataWarning, match="80 trials of the 20 stimuli"):
        import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="sessions_csv", region="V4")
    stored = brainbench.get_dataset("sessions_csv").assembly()
    assert stored.sizes["presentation"] == 80
    np.testing.assert_allclose(trials_by_repetition(stored)[1], by_hand)
    # without a repetition column, a stimulus's rows are its trials in order: a row given twice is two trials
    (tmp_path / "twice.csv").write_text("stimulus_id,n0\ns00,1\ns01,2\ns00,3\n" + "".join(
        f"s{i:02d},{i}\n" for i in range(2, N_STIM)))
    out = CliRunner().invoke(main, ["data", "import", "folder", str(tmp_path / "imgs"), str(tmp_path / "twice.csv"),
                                    "--name", "twice_csv", "--region", "V4"])
    assert out.exit_code == 0 and "imported twice_csv: 20 stimuli, 21 trials, 1 neuroids" in out.output, out.output
    twice = brainbench.get_dataset("twice_csv").assembly()
    assert twice.sizes["presentation"] == N_STIM + 1
    assert twice["repetition"].values[:3].tolist() == [0, 0, 1]
    assert average_repetitions(twice).sel(presentation=0).item() == 2.0  # s00: (1 + 3) / 2


def test_an_assembly_built_by_hand_with_repeated_pairs_is_refused_by_every_reshaper():
    a = xr.DataArray(np.arange(8.0).reshape(4, 2), dims=("presentation", "neuroid"),
                     coords={"stimulus_id": ("presentation", ["a", "b", "a", "a"]),
                             "repetition": ("presentation", [0, 0, 1, 1]),
                             "neuroid_id": ("neuroid", ["n0", "n1"]), "region": ("neuroid", ["V4", "V4"]),
                             "subject": ("neuroid", ["m", "m"])})
    message = r"1 \(stimulus_id, repetition\) pairs name more than one trial: \('a', 1\) 2x"
    with pytest.raises(AssemblyError, match=message):
        validate_assembly(a)
    with pytest.raises(AssemblyError, match=message):
        trials_by_repetition(a)
    with pytest.raises(AssemblyError, match=message):
        rdms_of_responses(a, "crossnobis")


def test_repeated_neuroid_ids_are_named():
    with pytest.raises(AssemblyError, match=r"1 neuroid_id values repeat: 'n0' \(2x, subjects \['m'\]\)"):
        neural_assembly(np.zeros((2, 3)), stimulus_id=["a", "b"], neuroid_id=["n0", "n1", "n0"], region="V4",
                        subject="m")
    with pytest.raises(AssemblyError, match=r"'0' \(2x, subjects \['a', 'b'\]\).*prefix the ids with the subject"):
        neural_assembly(np.zeros((2, 2)), stimulus_id=["a", "b"], neuroid_id=[0, 0], region="V4", subject=["a", "b"])


def test_repetitions_must_be_whole_numbers():
    with pytest.raises(AssemblyError, match=r"repetition must be whole numbers; 1 of 2 are not, e.g. \[nan\]"):
        neural_assembly(np.zeros((2, 1)), stimulus_id=["a", "a"], repetition=[0, np.nan], neuroid_id=["n"],
                        region="V4", subject="m")


def test_a_responses_csv_naming_a_neuroid_twice_or_with_an_index_column_is_refused(tmp_path):
    images(tmp_path / "imgs", ["a", "b"])
    (tmp_path / "r.csv").write_text("stimulus_id,n0,n0\na,1,2\nb,3,4\n")  # pandas would read the second as 'n0.1'
    with pytest.raises(DataFileError, match=r"names 1 columns more than once: \['n0'\]"):
        import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="twice_n0", region="V4")
    pd.DataFrame({"stimulus_id": ["a", "b"], "n0": [1.0, 2.0]}).to_csv(tmp_path / "r.csv")  # index=True
    with pytest.raises(DataFileError, match=r"1 columns without a name \(\['Unnamed: 0'\]\).*index=False"):
        import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="indexed", region="V4")


def test_two_images_with_one_stimulus_id_are_named(tmp_path):
    images(tmp_path / "imgs", ["000", "001"])
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "000.jpg")
    np.save(tmp_path / "r.npy", np.zeros((3, 2)))
    with pytest.raises(AssemblyError, match=r"'000' for \S+/000.jpg and \S+/000.png"):
        import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="clash", region="V4")
    with pytest.raises(AssemblyError, match=r"'000' for \S+/000.jpg and \S+/000.png"):
        StimulusSet.from_files(sorted((tmp_path / "imgs").iterdir()))


def brainio_pair(tmp_path, rows, members):
    """A stimulus CSV of ``rows`` (stimulus_id, filename) and a ZIP holding ``members`` (distinct images)."""
    pd.DataFrame(rows, columns=["stimulus_id", "filename"]).to_csv(tmp_path / "s.csv", index=False)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        for m in members:
            with zf.open(m, "w") as fh:
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(fh, format="PNG")
    return tmp_path / "s.csv", tmp_path / "s.zip"


def test_brainio_stimulus_sets_refuse_repeated_ids_and_ambiguous_images(tmp_path):
    csv, zip_ = brainio_pair(tmp_path, [("a", "a.png"), ("b", "b.png"), ("a", "c.png")], ["a.png", "b.png", "c.png"])
    with pytest.raises(AssemblyError, match=r"repeats 1 stimulus ids: 'a' in rows \[0, 2\] \(a.png, c.png\)"):
        read_stimulus_set(csv, zip_, extract_to=tmp_path / "x1")
    csv, zip_ = brainio_pair(tmp_path, [("a", "x.png"), ("b", "y.png")], ["cat/x.png", "dog/x.png", "y.png"])
    with pytest.raises(DataFileError, match=r"holds 1 image names more than once.*\['cat/x.png', 'dog/x.png'\]"):
        read_stimulus_set(csv, zip_, extract_to=tmp_path / "x2")
    csv, zip_ = brainio_pair(tmp_path, [("a", "cat/x.png"), ("b", "dog/x.png")], ["cat/x.png", "dog/x.png"])
    with pytest.raises(DataFileError, match=r"names 1 different files by one base name.*\['cat/x.png', 'dog/x.png'\]"):
        read_stimulus_set(csv, zip_, extract_to=tmp_path / "x3")


def test_stimulus_tables_refuse_repeated_ids(tmp_path):
    (tmp_path / "c.csv").write_text("stimulus_id,caption\n007,a\n7,b\n007,c\n")
    with pytest.raises(AssemblyError, match=r"repeats 1 stimulus ids: '007' in rows \[0, 2\]"):
        StimulusSet.from_table(tmp_path / "c.csv")


def test_features_with_a_stimulus_twice_are_refused():
    features = xr.DataArray(np.arange(6.0).reshape(3, 2), dims=("presentation", "neuroid"),
                            coords={"stimulus_id": ("presentation", ["a", "b", "a"]), "layer": ("neuroid", ["l", "l"])})
    with pytest.raises(AssemblyError, match=r"features repeat 1 stimulus ids, e.g. \['a'\]"):
        align_features(features, ["a", "b"])


def test_rdms_and_nsd_tables_name_repeated_keys(tmp_path):
    with pytest.raises(AssemblyError, match=r"1 repeat, e.g. \['a'\]"):
        rdm_assembly(np.zeros((1, 3)), stimulus_id=["a", "b", "a"], subject=["m"], region="IT")
    from brainbench.plugins.datasets.nsd.importer import _one_row_each

    info = pd.DataFrame({"nsdId": [1, 2, 2], "cocoId": [10, 20, 21]})
    with pytest.raises(DataFileError, match=r"more than one row for 1 nsdId values, e.g. \[2\]"):
        _one_row_each(info, "nsdId", [1, 2], tmp_path / "info.csv")
    with pytest.raises(DataFileError, match=r"no row for 1 nsdId values, e.g. \[3\]"):
        _one_row_each(info.iloc[:2], "nsdId", [1, 3], tmp_path / "info.csv")
    assert _one_row_each(info.iloc[:2], "nsdId", [2, 1], tmp_path / "info.csv")["cocoId"].tolist() == [20, 10]
