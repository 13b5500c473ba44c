"""Brain-Score assemblies: majajhong2015 through our brainio loader (files written in brainio's layout,
verified by sha1, fetched from a file:// store), Brain-Score's split protocol, and your own data imported
as a named dataset (a brainio assembly + stimulus set, or a folder of images + a response matrix)."""

import hashlib
import json
import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from helpers.brainio_layout import write_brainio_file
from click.testing import CliRunner
from sklearn.model_selection import StratifiedShuffleSplit

import brainbench
from brainbench import hookimpl
from brainbench.cli.commands import main
from brainbench.data.downloads import RemoteFile
from brainbench.errors import AssemblyError, ConfigError, DataFileError
from brainbench.registry.user_datasets import import_assembly, import_folder, imported_dir, imported_manifests
from brainbench.data.netcdf import as_neural_assembly, read_assembly, write_stimulus_set
from brainbench.plugins.datasets import majajhong2015
from brainbench.testing import tiny_stimulus_set

OBJECTS = ["car", "dog", "face", "chair"]
N_IMAGES, REPS = 40, 3


def hvm_like(folder, *, n_images=N_IMAGES, reps=REPS, time_bins=((70, 170),), seed=0):
    """A MajajHong-shaped brainio assembly (presentation x neuroid x time_bin, animal, region) + stimulus set."""
    rng = np.random.default_rng(seed)
    stimuli = tiny_stimulus_set(n=n_images, seed=seed)
    table = stimuli.table.assign(object_name=[OBJECTS[i % 4] for i in range(n_images)],
                                 variation=[(i // 4) % 3 * 3 for i in range(n_images)])
    stimuli = brainbench.StimulusSet(table, identifier="hvm-test", loader=stimuli._loader)
    csv, zip_ = write_stimulus_set(stimuli, folder / "stimulus_hvm-public.csv", folder / "stimulus_hvm-public.zip")
    signal = rng.normal(size=(n_images, 6))
    values = np.concatenate([signal + rng.normal(0, 0.5, signal.shape) for _ in range(reps)])
    values = np.repeat(values[:, :, None], len(time_bins), axis=2)
    presentation = {"stimulus_id": stimuli.ids * reps, "repetition": list(np.repeat(np.arange(reps), n_images))}
    neuroid = {"neuroid_id": [f"{a}_{i}" for a in ("Chabo", "Tito") for i in range(3)],
               "region": ["V4", "IT", "IT", "V4", "IT", "IT"], "animal": ["Chabo"] * 3 + ["Tito"] * 3,
               "arr": ["A", "B", "C"] * 2}
    nc = folder / "assy_dicarlo_MajajHong2015_public.nc"
    write_brainio_file(nc, values, presentation, neuroid, time_bins=list(time_bins),
                       identifier="dicarlo.MajajHong2015.public", stimulus_set_identifier="hvm-public")
    return nc, csv, zip_, values[:, :, 0]  # trials x neuroids, as written


def sha1(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    return hvm_like(folder)


def test_majajhong_loads_through_the_brainio_loader_with_brainscore_splits(store, plugin):
    nc, csv, zip_, trials = store
    files = tuple(RemoteFile(p.name, p.as_uri(), sha1=sha1(p)) for p in (nc, csv, zip_))

    class P:
        @hookimpl
        def register_datasets(self, register):
            register(majajhong2015.card().model_copy(update={"name": "mh_test"}),
                     lambda: majajhong2015.MajajHong2015(files))

        @hookimpl
        def register_benchmarks(self, register):
            spec = brainbench.get_benchmark("majajhong2015.IT").model_dump()
            register({**spec, "id": "mh_test.IT", "dataset": "mh_test"})

    plugin(P(), "mh-test")
    dataset = brainbench.get_dataset("mh_test")
    it = dataset.assembly("IT")
    assert it.sizes == {"presentation": N_IMAGES * REPS, "neuroid": 4} and set(it["subject"].values) == {"Chabo", "Tito"}
    assert "time_bin" not in it.dims and list(it["arr"].values) == ["B", "C", "B", "C"]
    np.testing.assert_array_equal(it.values, trials[:, [1, 2, 4, 5]])  # the IT neuroids' trials, in the file's order
    assert list(it["repetition"].values) == list(np.repeat(np.arange(REPS), N_IMAGES))
    stimuli = dataset.stimulus_set()
    assert stimuli.identifier == "hvm-public" and stimuli.image(stimuli.ids[0]).size == (32, 32)
    result = brainbench.score("synthetic_generator", "mh_test.IT", progress=False, layers=["block1"])
    assert result.ceiling is not None and result.subjects.keys() == {"Chabo", "Tito"}
    # Brain-Score's protocol: StratifiedShuffleSplit(10, test_size=0.1, random_state=1) on object_name
    sss = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=1)
    objects = stimuli.table["object_name"].to_numpy()
    expected = [np.sort(te) for _, te in sss.split(np.zeros(N_IMAGES), objects)]
    splits = brainbench.scoring.splits.make_splits(brainbench.get_benchmark("majajhong2015.IT").splits, N_IMAGES, objects)
    assert all(np.array_equal(s.test, e) for s, e in zip(splits, expected, strict=True))
    assert all(Counter(objects[s.test]) == Counter({o: 1 for o in OBJECTS}) for s in splits)


def test_brainscores_pls_benchmark_pools_animals_and_normalises_r_squared(store, plugin):
    """majajhong2015.IT-pls: one population of both animals' IT neuroids; raw = mean over splits of the median
    r of scikit-learn's PLSRegression(25, scale=False); ceiling = Brain-Score's InternalConsistency; r^2/ceiling."""
    from scipy.stats import pearsonr
    from sklearn.cross_decomposition import PLSRegression

    nc, csv, zip_, trials = store
    files = tuple(RemoteFile(p.name, p.as_uri(), sha1=sha1(p)) for p in (nc, csv, zip_))

    class P:
        @hookimpl
        def register_datasets(self, register):
            register(majajhong2015.card().model_copy(update={"name": "mh_pls"}), lambda: majajhong2015.MajajHong2015(files))

        @hookimpl
        def register_benchmarks(self, register):
            register({**brainbench.get_benchmark("majajhong2015.IT-pls").model_dump(), "id": "mh_pls.IT-pls",
                      "dataset": "mh_pls"})

    plugin(P(), "mh-pls")
    result, selection = brainbench.scoring.scorer.score_with_selection("synthetic_generator", "mh_pls.IT-pls", progress=False, layers=["block1"])
    assert list(result.subjects) == ["pooled"] and result.subjects["pooled"].n_neuroids == 4
    assert any("pooled into one population" in note for note in result.notes)

    it = trials[:, [1, 2, 4, 5]].reshape(REPS, N_IMAGES, 4)  # (repetition, stimulus, neuroid)
    assert result.ceiling == pytest.approx(np.median(brainbench.scoring.ceiling.internal_consistency(it), axis=1).mean(), abs=1e-12)
    assert result.normalised == pytest.approx(result.raw**2 / result.ceiling, rel=1e-12)
    assert "r^2 / ceiling" in result.provenance.ceiling_rule

    stimuli = brainbench.get_dataset("mh_pls").stimulus_set()
    X = brainbench.get_model("synthetic_generator").extract(stimuli, ["block1"], progress=False)["block1"]
    X = np.asarray(X.values, dtype=np.float32).astype(float).reshape(N_IMAGES, -1)
    Y = it.mean(0)
    spec = brainbench.get_benchmark("mh_pls.IT-pls")
    splits = brainbench.scoring.splits.make_splits(spec.splits, N_IMAGES, stimuli.table["object_name"].to_numpy())
    medians = []
    for s in splits:
        predicted = PLSRegression(n_components=25, scale=False).fit(X[s.train], Y[s.train]).predict(X[s.test])
        medians.append(np.median([pearsonr(predicted[:, j], Y[s.test, j])[0] for j in range(4)]))
    assert result.raw == pytest.approx(np.mean(medians), abs=1e-6)
    # the bootstrap normalises each replicate as the score is: r^2 / ceiling
    interval = brainbench.scoring.inference.bootstrap_interval(selection, n_boot=200, seed=1)
    weights, _ = brainbench.scoring.inference._draws(N_IMAGES, 1, 200, 1)
    replicates = selection.replicates(weights)[:, 0]
    assert [interval.normalised_low, interval.normalised_high] == pytest.approx(
        np.quantile(replicates**2 / result.ceiling, [0.025, 0.975]), rel=1e-12)


def test_a_damaged_store_file_is_a_checksum_error(store, plugin):
    nc, csv, zip_, _ = store
    files = (RemoteFile(nc.name, nc.as_uri(), sha1="0" * 40),)
    dataset = majajhong2015.MajajHong2015(files)
    with pytest.raises(brainbench.errors.ChecksumError, match="0000000000"):
        dataset.assembly()


def test_several_time_bins_need_a_choice(tmp_path):
    nc, *_ = hvm_like(tmp_path, time_bins=((70, 170), (170, 270)))
    with pytest.raises(DataFileError, match=r"2 time bins \(starts \[70, 170\]\); pick one"):
        as_neural_assembly(read_assembly(nc))
    assert as_neural_assembly(read_assembly(nc), time_bin=1).sizes == {"presentation": N_IMAGES * REPS, "neuroid": 6}


def test_import_a_brainscore_assembly_and_score_it(tmp_path):
    nc, csv, zip_, _ = hvm_like(tmp_path)
    out = CliRunner().invoke(main, ["data", "import", "assembly", str(nc), "--stimuli", str(csv), "--images", str(zip_),
                                    "--name", "mydata"])
    assert out.exit_code == 0, out.output
    assert "benchmarks: mydata.IT, mydata.V4" in out.output
    manifest = json.loads((imported_dir("mydata") / "dataset.json").read_text())
    assert manifest["repetitions"] and manifest["n_stimuli"] == N_IMAGES and manifest["subjects"] == ["Chabo", "Tito"]
    spec = brainbench.get_benchmark("mydata.V4")
    assert spec.ceiling == "split_half" and spec.splits.n_splits == 5
    result = brainbench.score("synthetic_generator", "mydata.V4", progress=False, layers=["block1"])
    assert result.subjects["Chabo"].n_neuroids == 1 and result.ceiling > 0.5
    again = CliRunner().invoke(main, ["data", "import", "assembly", str(nc), "--stimuli", str(csv), "--images", str(zip_),
                                      "--name", "mydata"])
    assert again.exit_code != 0 and "--overwrite" in again.output
    listed = json.loads(CliRunner().invoke(main, ["data", "list", "--json"]).output)
    assert {r["name"]: (r["files"], r["present"]) for r in listed}["mydata"] == ("local", N_IMAGES + 3)  # images, .nc, .csv, .json
    assert CliRunner().invoke(main, ["data", "rm", "mydata", "--yes"]).exit_code == 0
    assert not imported_dir("mydata").exists()
    brainbench.registry.entries.refresh()
    with pytest.raises(brainbench.errors.UnknownNameError):
        brainbench.get_dataset("mydata")


def images_folder(folder, n):
    folder.mkdir()
    stimuli = tiny_stimulus_set(n=n, seed=9)
    for sid in stimuli.ids:
        stimuli.image(sid).save(folder / f"{sid}.png")
    return stimuli.ids


def test_import_a_folder_with_a_npy_of_repeats(tmp_path):
    ids = images_folder(tmp_path / "imgs", 30)
    trials = np.random.default_rng(0).normal(size=(4, 30, 5))
    trials[3, :10] = np.nan  # stimuli 0-9 have only 3 trials
    np.save(tmp_path / "r.npy", trials)
    import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="folder_npy", region="V1", subject="m1")
    dataset = brainbench.get_dataset("folder_npy")
    a = dataset.assembly()
    assert a.sizes["presentation"] == 4 * 30 - 10 and set(a["subject"].values) == {"m1"}
    first = a.isel(presentation=(a["stimulus_id"] == ids[0]).values)
    assert np.allclose(np.sort(first.values, 0), np.sort(trials[:3, 0], 0))
    assert dataset.stimulus_set().ids == ids and brainbench.get_benchmark("folder_npy.V1").ceiling == "split_half"


def test_import_a_folder_with_a_csv(tmp_path):
    ids = images_folder(tmp_path / "imgs", 24)
    values = np.random.default_rng(1).normal(size=(24, 3))
    pd.DataFrame({"stimulus_id": ids[::-1], "u1": values[::-1, 0], "u2": values[::-1, 1], "u3": values[::-1, 2]}).to_csv(
        tmp_path / "r.csv", index=False)
    import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="folder_csv", region="IT")
    a = brainbench.get_dataset("folder_csv").assembly()
    assert list(a["neuroid_id"].values) == ["u1", "u2", "u3"]
    assert np.allclose(a.sel(presentation=a["stimulus_id"] == ids[5]).values[0], values[5])  # aligned by id
    assert brainbench.get_benchmark("folder_csv.IT").ceiling == "none"


@pytest.mark.parametrize(("setup", "error", "message"), [
    (lambda d: np.save(d / "r.npy", np.zeros((7, 2))), AssemblyError, "7 stimuli on its stimulus axis but the folder has 8"),
    (lambda d: pd.DataFrame({"stimulus_id": [f"nope{i}" for i in range(8)], "u": 1.0}).to_csv(d / "r.csv", index=False), AssemblyError,
     "have no image"),
    (lambda d: pd.DataFrame({"stimulus_id": ["a"], "u": ["x"]}).to_csv(d / "r.csv", index=False), DataFileError,
     "must be numbers"),
    (lambda d: (d / "r.npy").write_bytes(b"\x93NUMPY garbage"), DataFileError, "not a readable NumPy file"),
], ids=["row-count", "unknown-ids", "non-numeric", "corrupt-npy"])
def test_bad_imports_are_clear_errors_and_leave_nothing(tmp_path, setup, error, message):
    images_folder(tmp_path / "imgs", 8)
    setup(tmp_path)
    responses = next(tmp_path.glob("r.*"))
    with pytest.raises(error, match=message):
        import_folder(tmp_path / "imgs", responses, name="broken", region="V1")
    assert not imported_dir("broken").exists() and not list(imported_dir().glob(".broken*"))


def test_an_unfinished_import_is_not_a_dataset(tmp_path):
    images_folder(tmp_path / "imgs", 8)
    np.save(tmp_path / "r.npy", np.zeros((8, 2)))
    import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="whole", region="V1")
    shutil.copytree(imported_dir("whole"), imported_dir(".half.x1y2.part"))  # what a killed import leaves
    assert [m["name"] for m in imported_manifests()].count("whole") == 1  # its copy in the hidden folder is skipped


def test_import_names_are_checked(tmp_path):
    images_folder(tmp_path / "imgs", 8)
    np.save(tmp_path / "r.npy", np.zeros((8, 2)))
    with pytest.raises(ConfigError, match="taken by a plugin"):
        import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="cowley2023", region="V1")
    with pytest.raises(ConfigError, match="letters, digits"):
        import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="bad name", region="V1")
    with pytest.raises(AssemblyError, match="region names"):
        import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="okname", region="V1.deep")
