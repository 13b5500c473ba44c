"""NSD: import from a local copy in NSD's layout (tiny files in the real formats), fetch from a bucket served on
127.0.0.1 (betas freed after extraction), the trial -> image mapping, z-scoring per session, the HDF5
orientation, the ncsnr noise ceiling, the region definitions against DeepNSD's real voxel metadata, bad input."""

import json
import re
import shutil
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers.http_server import serve
from helpers.nsd_layout import N_OWN, N_SHARED, ROIS, SESSIONS, SHAPE, TRIALS, design, ncsnr, write_nsd

import brainbench
from brainbench.cli.commands import main
from brainbench.data.downloads import accept_terms, dataset_dir, terms_accepted
from brainbench.errors import AssemblyError, ConfigError, DataFileError, SplitError
from brainbench.plugins.datasets import nsd
from brainbench.scoring.splits import make_splits
from brainbench.scoring.targets import prepare_target
from helpers.paths import SHARED_DATA

METADATA = SHARED_DATA / "nsd_metadata"
needs_shared = pytest.mark.skipif(not METADATA.exists(), reason="../shared/data is not beside this checkout")


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))
    brainbench.get_dataset("nsd")._subject.cache_clear()


def expected_trials(root, subject, voxel):
    """Kept trials of one voxel straight from the files: (nsdId, z-scored % signal change) in trial order."""
    d = design()
    i, j, k = voxel
    out = []
    for session in range(1, SESSIONS + 1):
        with h5py.File(root / nsd.betas_path(subject, session)) as f:
            x = f["betas"][:, k, j, i] / 300.0
        z = (x - x.mean()) / x.std()
        images = d["subjectim"][subject - 1, d["masterordering"][0, (session - 1) * TRIALS + np.arange(TRIALS)] - 1] - 1
        out += [(n, v) for n, v in zip(images, z, strict=True) if n < N_SHARED]
    return out


def test_import_from_an_nsd_layout_copy(tmp_path):
    root = write_nsd(tmp_path / "copy")
    runner = CliRunner().invoke(main, ["data", "import", "nsd", "--root", str(root), "--subjects", "1,2", "-q"])
    assert runner.exit_code == 0, runner.output
    dataset = brainbench.get_dataset("nsd")
    v4 = dataset.assembly("V4", ["1"])
    assert list(v4["neuroid_id"].values) == ["S1-0-1-0", "S1-1-1-0"]  # the two hV4 voxels, 0-based (i, j, k)
    trials = expected_trials(root, 1, (0, 1, 0))
    got = {(s, r): v for s, r, v in zip(v4["stimulus_id"].values, v4["repetition"].values, v4.values[:, 0], strict=True)}
    seen: dict[str, int] = {}
    for n, value in trials:  # same trials, same order of repetitions, int16 rounding only
        sid = nsd.stimulus_id(n)
        rep = seen[sid] = seen.get(sid, -1) + 1
        assert got[(sid, rep)] == pytest.approx(value, abs=1e-5)
    assert len(got) == len(trials)
    stimuli = dataset.stimulus_set()
    assert len(stimuli) == N_SHARED and stimuli.table["shared1000"].all() and stimuli.table["coco_id"].iloc[0] == 5000
    assert stimuli.image("nsd00003").size == (24, 24)
    listed = {r["name"]: r for r in json.loads(CliRunner().invoke(main, ["data", "list", "--json"]).output)}
    assert listed["nsd"]["present"] > N_SHARED and listed["nsd"]["bytes"] > 0  # the store and its images
    general = dataset.assembly("nsdgeneral", ["1"])  # label 1 only: -1 marks voxels outside the brain
    assert sorted(general["neuroid_id"].values) == ["S1-0-0-0", "S1-0-1-0", "S1-2-2-1", "S1-5-4-3"]
    both = dataset.assembly("EVC")
    assert set(both["subject"].values) == {"1", "2"} and both.sizes["neuroid"] == 16
    assert list(both.sel(neuroid=both["subject"] == "2")["ncsnr"].values) == pytest.approx(
        [ncsnr(2)[v] for v in sorted(ROIS["prf-visualrois"], key=lambda v: (v[0], v[1], v[2]))])


def test_nsd_benchmark_scores_with_the_ncsnr_ceiling(tmp_path):
    nsd.import_nsd(write_nsd(tmp_path / "copy"), subjects=[1, 2], regions=["V1", "V4"], progress=False)
    result = brainbench.score("synthetic_generator", "nsd.V4", progress=False, layers=["block1"])
    counts = pd.Series(design()["subjectim"][0, design()["masterordering"][0] - 1] - 1).value_counts()
    mean_inverse = (1 / counts[counts.index < N_SHARED]).mean()  # 1/3 for images seen thrice, 1/2 for twice
    snr = np.array([ncsnr(s)[v] for s in (1, 2) for v in ((0, 1, 0), (1, 1, 0))])
    nc = snr**2 / (snr**2 + mean_inverse)
    assert result.neuroids["reliability"] == pytest.approx(nc, abs=1e-6)
    assert result.ceiling == pytest.approx(np.sqrt(nc).mean(), abs=1e-6)
    assert result.provenance.ceiling_rule.startswith("v2: NSD")
    with pytest.raises(AssemblyError, match="no region 'OTC'.*V1, V4"):
        brainbench.get_dataset("nsd").assembly("OTC")


def test_a_subject_benchmark_trains_on_its_own_images_and_tests_on_the_shared_ones(tmp_path):
    root = write_nsd(tmp_path / "copy", subjects=[1], pngs=False, hdf5=True)
    nsd.import_nsd(root, subjects=[1], regions=["V4"], images="all", progress=False)
    spec = brainbench.get_benchmark("nsd.V4.subj01")
    assert spec.splits.kind == "fixed" and spec.splits.test_by == "shared1000" and spec.subjects == ["1"]
    dataset = brainbench.get_dataset("nsd")
    target = prepare_target(spec, dataset, dataset.stimulus_set(), brainbench.get_metric("ridge"))
    split, = make_splits(spec.splits, len(target.ids), target.split_column)
    nsd_ids = np.array([int(s[3:]) for s in target.ids])
    assert len(target.ids) == N_SHARED + N_OWN
    assert sorted(nsd_ids[split.test]) == list(range(N_SHARED))  # tested on the shared images
    assert sorted(nsd_ids[split.train]) == list(range(100, 100 + N_OWN))  # trained on its own (1-based 101..110)
    result = brainbench.score("synthetic_generator", "nsd.V4.subj01", progress=False, layers=["block1"])
    assert list(result.subjects) == ["1"] and result.neuroids["neuroid_id"] == ["S1-0-1-0", "S1-1-1-0"]

    nsd.import_nsd(root, subjects=[1], regions=["V4"], progress=False)  # shared1000 only: nothing to train on
    with pytest.raises(SplitError, match="fixed split by 'shared1000' leaves 0 training and 40 test"):
        brainbench.score("synthetic_generator", "nsd.V4.subj01", progress=False, layers=["block1"])


def test_fetch_from_the_bucket_frees_each_sessions_betas(tmp_path, monkeypatch):
    bucket = tmp_path / "bucket"
    write_nsd(bucket / "nsd", subjects=[1])  # a mirror holds <folder>/<NSD's layout>
    with pytest.raises(ConfigError, match="terms of use"):
        nsd.fetch_nsd([1])
    with serve(bucket) as server:
        monkeypatch.setenv("BRAINBENCH_MIRROR", server.url)  # the bucket only: no DeepNSD captions, said in a warning
        with pytest.warns(UserWarning, match="no COCO captions"):
            out = CliRunner().invoke(main, ["data", "fetch", "nsd", "--subjects", "1", "--sessions", "1,2",
                                            "--accept-terms", "-q"])
        assert out.exit_code == 0, out.output
        assert "Terms and Conditions" in out.output
        requested = [path for path, _ in server.requests]
    assert f"/nsd/{nsd.betas_path(1, 2)}" in requested and f"/nsd/{nsd.roi_path(1, 'streams')}" in requested
    home = dataset_dir("nsd")
    assert not (home / nsd.betas_path(1, 1)).exists() and (home / nsd.roi_path(1, "streams")).is_file()
    fetched = brainbench.get_dataset("nsd").assembly("V1")
    trials = expected_trials(bucket / "nsd", 1, (0, 0, 0))
    assert fetched.sizes["presentation"] == len(trials) and terms_accepted("nsd")
    wrong = CliRunner().invoke(main, ["data", "fetch", "cowley2023", "--subjects", "1"])
    assert wrong.exit_code != 0 and "takes no fetch options (subjects)" in wrong.output
    removed = CliRunner().invoke(main, ["data", "rm", "nsd", "--yes"])
    assert removed.exit_code == 0 and not home.exists(), removed.output


def test_fetch_all_images_reads_each_out_of_the_bucket_stimulus_hdf5_by_ranges(tmp_path, monkeypatch):
    bucket = tmp_path / "bucket"
    write_nsd(bucket / "nsd", subjects=[1], pngs=False, hdf5=True)
    accept_terms("nsd")
    with serve(bucket) as server:
        monkeypatch.setenv("BRAINBENCH_MIRROR", server.url)
        with pytest.warns(UserWarning, match="no COCO captions"):
            nsd.fetch_nsd([1], sessions=[1, 2], images="all", progress=False)
        stimulus_reads = [r for path, r in server.requests if path == f"/nsd/{nsd.STIMULI_HDF5}"]
    assert stimulus_reads and all(re.fullmatch(r"bytes=\d+-\d+", r) for r in stimulus_reads)  # parts only
    assert not (dataset_dir("nsd") / nsd.STIMULI_HDF5).exists()
    dataset = brainbench.get_dataset("nsd")
    spans = [int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in stimulus_reads)]
    assert spans.count(24 * 24 * 3) == len(dataset.stimulus_set())  # one request of exactly its bytes per image
    assert dataset.assembly("V1").sizes["presentation"] == SESSIONS * TRIALS  # every trial: all its images kept
    pixels = np.random.default_rng(1).integers(0, 256, (200, 24, 24, 3), dtype=np.uint8)  # write_nsd's imgBrick
    stimuli = dataset.stimulus_set()
    own = [100 + k for k in range(N_OWN)]  # subject 1's own images (0-based nsdIds), beyond the shared ones
    assert {nsd.stimulus_id(n) for n in own} <= set(stimuli.ids)
    for n in (own[0], own[-1], 3):
        np.testing.assert_array_equal(np.asarray(stimuli.image(nsd.stimulus_id(n))), pixels[n])


def test_a_missing_file_or_unknown_region_is_named(tmp_path):
    root = write_nsd(tmp_path / "copy", subjects=[1])
    (root / nsd.roi_path(1, "floc-faces")).unlink()
    with pytest.raises(DataFileError, match="lacks nsddata/ppdata/subj01/func1pt8mm/roi/floc-faces.nii.gz"):
        nsd.import_nsd(root, subjects=[1], progress=False)
    with pytest.raises(ConfigError, match="unknown NSD regions \\['V9'\\]; the regions are V1, V2"):
        nsd.import_nsd(root, subjects=[1], regions=["V9"], progress=False)
    with pytest.raises(DataFileError, match="not imported yet"):
        brainbench.get_dataset("nsd").stimulus_set()
    (root / nsd.betas_path(1, 2)).write_bytes(b"not hdf5")
    shutil.copy(root / nsd.roi_path(1, "floc-bodies"), root / nsd.roi_path(1, "floc-faces"))
    with pytest.raises(DataFileError, match="betas_session02.hdf5 is not a readable NSD betas HDF5"):
        nsd.import_nsd(root, subjects=[1], progress=False)
    assert not (nsd.store_dir() / "subj01.nc").exists()  # nothing half-written


@needs_shared
def test_region_definitions_match_deepnsd_voxel_metadata(tmp_path):
    """Volumes labelled from DeepNSD's real per-voxel ROI table: EVC and OTC come back exactly, decoys do not."""
    evc = pd.read_csv(METADATA / "voxel_metadata_EVC.csv").query("subj_id == 1")
    otc = pd.read_csv(METADATA / "voxel_metadata_OTC.csv").query("subj_id == 1")
    table = pd.concat([evc, otc]).fillna(0).groupby("voxel_id", as_index=False).max()  # a voxel in both: all flags
    shape = (81, 104, 83)
    volumes = {roi: np.zeros(shape, np.int16) for roi in nsd.ROI_LABELS}
    snr = np.zeros(shape, np.float32)
    for row in table.to_dict("records"):
        voxel = tuple(int(c) for c in row["voxel_id"].split("-")[1:])
        snr[voxel] = row["ncsnr"]
        for roi, labels in nsd.ROI_LABELS.items():
            for value, name in labels.items():
                if row.get(name) == 1:
                    volumes[roi][voxel] = value
    decoys = [(0, 0, 0), (1, 0, 0)]  # in the ventral stream, but ncsnr below 0.2: not OTC
    for voxel in decoys:
        volumes["streams"][voxel], snr[voxel] = 5, 0.1
    root = tmp_path / "copy"
    for roi, volume in volumes.items():
        path = root / nsd.roi_path(1, roi)
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    (root / nsd.ncsnr_path(1)).parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(snr, np.eye(4)), root / nsd.ncsnr_path(1))
    masks, ncsnr_volume = nsd.region_masks(root, 1, ["EVC", "OTC", "V4"])

    def ids(mask):
        return {f"S1-{i}-{j}-{k}" for i, j, k in zip(*np.nonzero(mask), strict=True)}

    assert ids(masks["EVC"]) == set(evc["voxel_id"])
    assert ids(masks["OTC"]) == set(otc["voxel_id"])
    assert ids(masks["V4"]) == set(evc.loc[evc["hV4"] == 1, "voxel_id"])


def test_an_interrupted_image_write_leaves_no_image_behind(tmp_path):
    class Interrupted:  # writes part of a PNG, then the process is stopped
        def save(self, path, format):
            Path(path).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
            raise KeyboardInterrupt

    target = tmp_path / "nsd00001.png"
    with pytest.raises(KeyboardInterrupt):
        nsd.importer._save_png(Interrupted(), target)
    assert list(tmp_path.iterdir()) == []  # a later import writes it anew instead of keeping a truncated file


def test_import_through_the_dataset_contract_takes_the_copy_as_source(tmp_path):
    """``brainbench data import nsd DIR`` (the Dataset contract's import_data, options from NSD's declaration) writes
    the same store as ``--root DIR``, the older spelling, and as import_nsd."""
    root = write_nsd(tmp_path / "copy", subjects=[1])
    out = CliRunner().invoke(main, ["data", "import", "nsd", str(root), "--subjects", "1", "--regions", "V4,V1", "-q"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("nsd imported into ") and out.output.strip().endswith(str(nsd.store_dir()))
    manifest = json.loads((nsd.store_dir() / "nsd.json").read_text())
    assert manifest["subjects"] == {"1": {"sessions": list(range(1, SESSIONS + 1)), "regions": ["V4", "V1"]}}
    v4 = brainbench.get_dataset("nsd").assembly("V4", ["1"])
    assert list(v4["neuroid_id"].values) == ["S1-0-1-0", "S1-1-1-0"]
    trials = expected_trials(root, 1, (1, 1, 0))
    assert sorted(v4.sel(neuroid=v4["neuroid_id"] == "S1-1-1-0").values.ravel()) == pytest.approx(
        sorted(v for _, v in trials), abs=1e-5)
