"""netCDF4 I/O compatible with Brain-Score's brainio files, both ways."""

import zipfile

import netCDF4
from helpers.brainio_layout import write_brainio_file
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainbench import read_assembly, write_assembly
from brainbench.errors import DataFileError
from brainbench.data.netcdf import read_stimulus_set, write_stimulus_set
from brainbench.testing import tiny_stimulus_set

PRESENTATION = {"stimulus_id": ["im0", "im1", "im2", "im0", "im1", "im2"], "repetition": [0, 0, 0, 1, 1, 1],
                "object_name": ["car", "dog", "car", "car", "dog", "car"]}
NEUROID = {"neuroid_id": ["Chabo_L_M_5_9", "Tito_L_P_8_0"], "region": ["IT", "V4"], "animal": ["Chabo", "Tito"]}


def test_reads_a_brainio_file(tmp_path):
    values = np.arange(12, dtype=float).reshape(6, 2)
    write_brainio_file(tmp_path / "a.nc", values, PRESENTATION, NEUROID)
    a = read_assembly(tmp_path / "a.nc")
    np.testing.assert_array_equal(a.values, values)
    assert a.dims == ("presentation", "neuroid")
    for name, vals in {**PRESENTATION, **NEUROID}.items():
        assert list(a[name].values) == vals
    assert a.attrs["identifier"] == "dicarlo.Test2015.public" and a.attrs["stimulus_set_identifier"] == "test-public"


def test_reads_a_file_without_the_coordinates_attribute_and_old_image_id(tmp_path):
    with netCDF4.Dataset(tmp_path / "b.nc", "w") as ds:
        ds.createDimension("presentation", 2)
        ds.createDimension("neuroid", 1)
        ds.createVariable("data", "f4", ("presentation", "neuroid"))[:] = [[1.0], [2.0]]
        v = ds.createVariable("image_id", str, ("presentation",))
        v[:] = np.array(["x", "y"], dtype=object)
        ds.identifier = "old"
    a = read_assembly(tmp_path / "b.nc")
    assert list(a["stimulus_id"].values) == ["x", "y"] and "image_id" in a.coords


def test_written_file_has_brainio_layout_and_round_trips(tmp_path):
    index = pd.MultiIndex.from_arrays([PRESENTATION["stimulus_id"], PRESENTATION["repetition"]], names=["stimulus_id", "repetition"])
    coords = xr.Coordinates.from_pandas_multiindex(index, "presentation")
    values = np.random.default_rng(0).standard_normal((6, 2))
    a = xr.DataArray(values, dims=("presentation", "neuroid"), coords=coords).assign_coords(
        {**{k: ("neuroid", v) for k, v in NEUROID.items()}, "object_name": ("presentation", PRESENTATION["object_name"])})
    path = write_assembly(a, tmp_path / "out.nc", identifier="mine", stimulus_set_identifier="stims")
    with netCDF4.Dataset(path) as ds:
        assert set(ds.variables) == {"data", *PRESENTATION, *NEUROID}  # no presentation/neuroid variables
        assert ds.identifier == "mine" and ds.stimulus_set_identifier == "stims"
        np.testing.assert_allclose(ds["data"][:], values)
        assert list(ds["stimulus_id"][:]) == PRESENTATION["stimulus_id"]
    back = read_assembly(path)
    np.testing.assert_array_equal(back.values, values)
    for name, vals in {**PRESENTATION, **NEUROID}.items():
        assert list(back[name].values) == vals
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("kind", ["truncated", "not-netcdf", "missing", "no-data-variable"])
def test_bad_files_get_clear_errors(tmp_path, kind):
    good = tmp_path / "good.nc"
    write_brainio_file(good, np.ones((6, 2)), PRESENTATION, NEUROID)
    bad = tmp_path / "bad.nc"
    if kind == "truncated":
        bad.write_bytes(good.read_bytes()[:700])
        expected = "truncated or corrupt"
    elif kind == "not-netcdf":
        bad.write_text("stimulus_id,value\na,1\n")
        expected = "is not a netCDF file"
    elif kind == "missing":
        expected = "does not exist"
    else:
        xr.Dataset({"responses": (("presentation",), [1.0])}).to_netcdf(bad)
        expected = "has no 'data' variable"
    with pytest.raises(DataFileError, match=expected):
        read_assembly(bad)


def test_stimulus_set_csv_and_zip_round_trip(tmp_path):
    stimuli = tiny_stimulus_set(n=4)
    stimuli.table["object_name"] = ["a", "b", "a", "b"]
    csv, archive = write_stimulus_set(stimuli, tmp_path / "s.csv", tmp_path / "s.zip")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == [f"tiny00{i}.png" for i in range(4)]  # flat
    back = read_stimulus_set(csv, archive, extract_to=tmp_path / "images")
    assert back.ids == stimuli.ids and list(back.table["object_name"]) == ["a", "b", "a", "b"]
    for sid in stimuli.ids:
        np.testing.assert_array_equal(np.asarray(back.image(sid)), np.asarray(stimuli.image(sid)))
    assert back.content_hash() == stimuli.content_hash()


def test_stimulus_set_with_missing_images_or_bad_zip(tmp_path):
    pd.DataFrame({"stimulus_id": ["a"], "filename": ["a.png"]}).to_csv(tmp_path / "s.csv", index=False)
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        zf.writestr("other.png", b"")
    with pytest.raises(DataFileError, match=r"lacks 1 images listed"):
        read_stimulus_set(tmp_path / "s.csv", tmp_path / "s.zip", extract_to=tmp_path / "x")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="not a valid ZIP"):
        read_stimulus_set(tmp_path / "s.csv", tmp_path / "bad.zip", extract_to=tmp_path / "x")


def test_a_failed_write_leaves_no_file_behind(tmp_path):
    a = xr.DataArray(np.ones((2, 1)), dims=("presentation", "neuroid"),
                     coords={"stimulus_id": ("presentation", ["a", "b"]), "bad": ("neuroid", [object()])})
    with pytest.raises(Exception):  # noqa: B017 - netCDF4 cannot encode an arbitrary object
        write_assembly(a, tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []


def test_written_files_and_folders_get_the_umask_not_private_temporary_modes(tmp_path):
    import os

    from brainbench.data.files import atomic_dir

    previous = os.umask(0o027)  # a lab's shared data home: group-readable
    try:
        write_assembly(xr.DataArray(np.ones((2, 1)), dims=("presentation", "neuroid"),
                                    coords={"stimulus_id": ("presentation", ["a", "b"])}), tmp_path / "out.nc")
        with atomic_dir(tmp_path / "folder") as folder:
            (folder / "x").write_text("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.nc").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "out.nc"]
