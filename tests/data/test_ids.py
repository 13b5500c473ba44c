"""Identifiers are strings, always: every reader of a user's tables and files gives back the ids written.

Each test writes ids that type inference would change (zero-padded numbers, NA/nan, 1e3, TRUE, spaces) through
one reader, and checks that the ids that come out equal the ids written, and that numbers stay numbers."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

import brainbench
from brainbench.data.assembly import neural_assembly
from brainbench.errors import AssemblyError, DataFileError
from brainbench.registry.user_datasets import import_assembly, import_folder, imported_dir
from brainbench.data.netcdf import as_neural_assembly, read_assembly, read_stimulus_set, write_assembly, write_stimulus_set
from brainbench.data.stimuli import StimulusSet, folder_images
from brainbench.data.tables import id_strings, read_lines, read_table

# what pandas' type inference turns into other ids: 0, 1, 11, NaN, NaN, 1000.0, True, ...
TRICKY = ["000", "001", "011", "NA", "nan", "NaN", "1e3", "TRUE", "false", " x ", "null", "None", "-0", "1.0", "0x1F"]


def write_csv(path, header, rows, sep=","):
    """A table written by hand, exactly as given (no pandas on the way in)."""
    path.write_text("\n".join(sep.join(row) for row in [header, *rows]) + "\n", encoding="utf-8")
    return path


def image_folder(folder, ids, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for sid in ids:
        (folder / f"{sid}.png").parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{sid}.png")


def test_read_table_keeps_every_cell_as_written_and_converts_declared_numbers(tmp_path):
    rows = [[sid, f"{i}.5", str(i % 3)] for i, sid in enumerate(TRICKY)]
    path = write_csv(tmp_path / "t.csv", ["stimulus_id", "n0", "rep"], rows)
    table = read_table(path, "table", types={"stimulus_id": "text", "rep": "int"}, others="float")
    assert table["stimulus_id"].tolist() == TRICKY
    assert table["n0"].tolist() == [i + 0.5 for i in range(len(TRICKY))]
    assert table["rep"].tolist() == [i % 3 for i in range(len(TRICKY))] and table["rep"].dtype == np.int64
    as_text = read_table(path, "table")  # nothing declared: every column is text
    assert as_text["n0"].tolist() == [f"{i}.5" for i in range(len(TRICKY))] and as_text["rep"].tolist()[:2] == ["0", "1"]


def test_read_table_missing_values_booleans_bom_and_tabs(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffid\tv\tflag\nNA\t\tTRUE\n007\tNaN\tfalse\n1e3\t-2e-1\t1\n".encode())
    table = read_table(path, "table", types={"v": "float", "flag": "bool"}, required=["id"])
    assert table["id"].tolist() == ["NA", "007", "1e3"]  # the byte-order mark is not part of the first name
    assert np.isnan(table["v"][:2]).all() and table["v"][2] == -0.2
    assert table["flag"].tolist() == [True, False, True]


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("id,n0,n0\na,1,2\n", {}, r"names 1 columns more than once: \['n0'\]"),
    ("id,n0\na,x\n", {"types": {"id": "text"}, "others": "float"}, r"column 'n0' must be numbers; 1 cell is not \(row 1: 'x'"),
    ("id,rep\na,\n", {"types": {"rep": "int"}}, r"column 'rep' must be whole numbers"),
    ("id,flag\na,yes\n", {"types": {"flag": "bool"}}, r"column 'flag' must be true/false"),
    ("id ,n0\na,1\n", {"required": ["id"]}, r"no 'id' column .*'id ' has spaces around its name"),
    ("id,n0\n,1\n", {"ids": ["id"]}, r"1 empty 'id' cells \(rows \[1\]"),
    ("", {}, "is empty"),
], ids=["repeated-column", "not-a-number", "missing-int", "not-a-bool", "spaced-name", "empty-id", "empty-file"])
def test_read_table_errors_name_the_file_column_and_cells(tmp_path, text, kwargs, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataFileError, match=message):
        read_table(tmp_path / "t.csv", "table", **kwargs)


def test_id_strings_of_numbers_bytes_and_text():
    assert id_strings(np.arange(3)) == ["0", "1", "2"]
    assert id_strings(np.array([7.0, 1.5, -0.0])) == ["7", "1.5", "0"]
    assert id_strings(np.array([b"000", b"NA"])) == ["000", "NA"]
    assert id_strings(["000", 7, np.float32(2.0), b"x"]) == ["000", "7", "2", "x"]
    with pytest.raises(AssemblyError, match="1 stimulus ids are missing"):
        id_strings(np.array([1.0, np.nan]), "stimulus ids")


def test_the_issue_example_zero_padded_ids_import_from_a_folder_and_csv(tmp_path):
    """Twelve images 000.png ... 011.png and a responses CSV naming them 000 ... 011 (issue 19, part 3)."""
    ids = [f"{i:03d}" for i in range(12)]
    image_folder(tmp_path / "imgs", ids)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 2))
    write_csv(tmp_path / "r.csv", ["stimulus_id", "n0", "n1"], [[s, repr(float(a)), repr(float(b))] for s, (a, b) in zip(ids, values)])
    import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="padded12", region="V4")
    dataset = brainbench.get_dataset("padded12")
    assembly = dataset.assembly()
    assert assembly["stimulus_id"].values.tolist() == ids and dataset.stimulus_set().ids == ids
    assert np.array_equal(assembly.values, values)


def test_import_folder_csv_keeps_tricky_stimulus_and_neuroid_ids(tmp_path):
    image_folder(tmp_path / "imgs", TRICKY)
    neuroids = ["007", "NA", " n ", "1e3"]
    rng = np.random.default_rng(1)
    values = rng.normal(size=(len(TRICKY), len(neuroids)))
    order = rng.permutation(len(TRICKY))  # rows in any order: aligned by id
    write_csv(tmp_path / "r.csv", ["stimulus_id", *neuroids],
              [[TRICKY[i], *(repr(float(v)) for v in values[i])] for i in order])
    import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="tricky_csv", region="V4", subject="007")
    dataset = brainbench.get_dataset("tricky_csv")
    a = dataset.assembly()
    assert a["stimulus_id"].values.tolist() == [TRICKY[i] for i in order]
    assert a["neuroid_id"].values.tolist() == neuroids and set(a["subject"].values) == {"007"}
    assert np.array_equal(a.values, values[order])
    stimuli = dataset.stimulus_set()  # the imported dataset's stored table, read back
    assert sorted(stimuli.ids) == sorted(TRICKY) and set(stimuli.table["filename"]) == {f"{s}.png" for s in TRICKY}
    assert json.loads((imported_dir("tricky_csv") / "dataset.json").read_text())["subjects"] == ["007"]


def test_import_folder_npy_ids_are_the_image_paths_as_written(tmp_path):
    ids = ["000", "010", "NA", "cat/001", "dog/001"]  # class folders reusing file names stay apart
    image_folder(tmp_path / "imgs", ids)
    files, found = folder_images(tmp_path / "imgs")
    assert found == sorted(ids) and [f.relative_to(tmp_path / "imgs").as_posix() for f in files] == \
        [f"{s}.png" for s in sorted(ids)]
    values = np.arange(10.0).reshape(5, 2)
    np.save(tmp_path / "r.npy", values)
    import_folder(tmp_path / "imgs", tmp_path / "r.npy", name="tricky_npy", region="V1")
    dataset = brainbench.get_dataset("tricky_npy")
    assert dataset.assembly()["stimulus_id"].values.tolist() == sorted(ids)
    stimuli = dataset.stimulus_set()
    assert stimuli.ids == sorted(ids)
    for sid in ids:  # each id still names its own image
        assert stimuli.image(sid).tobytes() == Image.open(tmp_path / "imgs" / f"{sid}.png").convert("RGB").tobytes()


def test_brainio_stimulus_set_keeps_ids_file_names_and_metadata_as_written(tmp_path):
    image_folder(tmp_path / "imgs", [f"im{i}" for i in range(len(TRICKY))])
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        for i in range(len(TRICKY)):
            zf.write(tmp_path / "imgs" / f"im{i}.png", f"im{i}.png")
    objects = ["007", "NA", "nan", "TRUE"] * 4
    write_csv(tmp_path / "s.csv", ["image_id", "filename", "object_name", "variation"],
              [[sid, f"im{i}.png", objects[i], "03"] for i, sid in enumerate(TRICKY)])
    stimuli = read_stimulus_set(tmp_path / "s.csv", tmp_path / "s.zip", extract_to=tmp_path / "x")
    assert stimuli.ids == TRICKY
    assert stimuli.table["object_name"].tolist() == objects[:len(TRICKY)] and set(stimuli.table["variation"]) == {"03"}


def test_brainio_round_trip_keeps_ids_that_are_paths(tmp_path):
    """Ids with folders (cat/001, dog/001) were written as nested ZIP members and read back by base name, so both
    stimuli got one image; they are now written under quoted names and come back apart."""
    image_folder(tmp_path / "imgs", ["cat/001", "dog/001", " x ", "NA"])
    files, ids = folder_images(tmp_path / "imgs")
    stimuli = StimulusSet.from_files(files, ids=ids)
    csv, zip_ = write_stimulus_set(stimuli, tmp_path / "s.csv", tmp_path / "s.zip")
    back = read_stimulus_set(csv, zip_, extract_to=tmp_path / "x")
    assert back.ids == ids
    for sid in ids:
        assert back.image(sid).tobytes() == stimuli.image(sid).tobytes()


def test_stimulus_tables_and_caption_files_keep_ids_and_captions(tmp_path):
    captions = ["NA", "  a cat on a mat", "1e3", "TRUE"]
    write_csv(tmp_path / "c.tsv", ["stimulus_id", "caption"], list(zip(TRICKY[:4], captions)), sep="\t")
    table = StimulusSet.from_table(tmp_path / "c.tsv")
    assert table.ids == TRICKY[:4] and [table.text(s) for s in table.ids] == captions
    (tmp_path / "c.txt").write_text("\n".join(["NA", "", "  a cat on a mat", "   ", "1e3"]) + "\n")
    lines = StimulusSet.from_table(tmp_path / "c.txt")
    assert lines.ids == ["0", "1", "2"] and [lines.text(s) for s in lines.ids] == ["NA", "  a cat on a mat", "1e3"]
    assert read_lines(tmp_path / "c.txt", "captions") == ["NA", "  a cat on a mat", "1e3"]
    image_folder(tmp_path / "imgs", TRICKY[:3])
    write_csv(tmp_path / "f.csv", ["stimulus_id", "filename"], [[s, f"imgs/{s}.png"] for s in TRICKY[:3]])
    assert StimulusSet.from_table(tmp_path / "f.csv").ids == TRICKY[:3]


def test_cli_folder_stimuli_are_named_as_written(tmp_path):
    from brainbench.cli.commands import _stimuli_from_paths

    image_folder(tmp_path / "imgs", ["000", "1e3", "NA"])
    assert _stimuli_from_paths((str(tmp_path / "imgs"),)).ids == ["000", "1e3", "NA"]


def test_netcdf_keeps_string_ids_and_numbers_become_their_integers(tmp_path):
    ids = [s for s in TRICKY if s.strip()]
    a = neural_assembly(np.ones((len(ids), 2)), stimulus_id=ids, neuroid_id=["007", "NA"], region="V4", subject="001")
    write_assembly(a, tmp_path / "a.nc")
    back = as_neural_assembly(read_assembly(tmp_path / "a.nc"))
    assert back["stimulus_id"].values.tolist() == ids and back["neuroid_id"].values.tolist() == ["007", "NA"]
    assert set(back["subject"].values) == {"001"}
    numbers = xr.DataArray(np.zeros((3, 2)), dims=("presentation", "neuroid"),
                           coords={"stimulus_id": ("presentation", [0, 10, 11]), "neuroid_id": ("neuroid", [7.0, 8.0]),
                                   "region": ("neuroid", ["V4", "V4"]), "animal": ("neuroid", [1, 2])})
    numbers.to_dataset(name="data").to_netcdf(tmp_path / "n.nc", engine="netcdf4")
    converted = as_neural_assembly(read_assembly(tmp_path / "n.nc"))
    assert converted["stimulus_id"].values.tolist() == ["0", "10", "11"]
    assert converted["neuroid_id"].values.tolist() == ["7", "8"] and converted["subject"].values.tolist() == ["1", "2"]


def test_import_assembly_matches_a_zero_padded_stimulus_csv(tmp_path):
    ids = ["000", "001", "010", "NA", "1e3", "TRUE"] * 1
    image_folder(tmp_path / "imgs", [f"f{i}" for i in range(len(ids))])
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        for i in range(len(ids)):
            zf.write(tmp_path / "imgs" / f"f{i}.png", f"f{i}.png")
    write_csv(tmp_path / "s.csv", ["stimulus_id", "filename"], [[s, f"f{i}.png"] for i, s in enumerate(ids)])
    a = neural_assembly(np.arange(24.0).reshape(12, 2), stimulus_id=ids * 2, repetition=[0] * 6 + [1] * 6,
                        neuroid_id=["n0", "n1"], region="IT", subject="m")
    write_assembly(a, tmp_path / "a.nc")
    import_assembly(tmp_path / "a.nc", name="padded_nc", stimuli_csv=tmp_path / "s.csv", stimuli_zip=tmp_path / "s.zip")
    dataset = brainbench.get_dataset("padded_nc")
    assert dataset.stimulus_set().ids == ids and dataset.assembly()["stimulus_id"].values.tolist() == ids * 2


def test_nsd_store_table_keeps_captions_as_text_and_numbers_as_numbers(tmp_path, monkeypatch):
    from brainbench.plugins.datasets import nsd

    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))  # a store of its own
    folder = nsd.store_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nsd.json").write_text(json.dumps({"subjects": {}, "stimuli": []}))
    write_csv(folder / "stimuli.csv", ["stimulus_id", "filename", "nsd_id", "coco_id", "shared1000", "captions"],
              [["nsd00007", "nsd00007.png", "7", "0042", "True", "NA"], ["nsd00010", "nsd00010.png", "10", "5", "False", ""]])
    table = nsd.NSD().stimulus_set().table
    assert table["stimulus_id"].tolist() == ["nsd00007", "nsd00010"] and table["captions"].tolist() == ["NA", ""]
    assert table["coco_id"].tolist() == [42, 5] and table["shared1000"].tolist() == [True, False]


def test_an_id_with_spaces_that_matches_no_image_says_so(tmp_path):
    image_folder(tmp_path / "imgs", ["000", "001"])
    (tmp_path / "r.csv").write_text("stimulus_id,n0\n 000,1\n 001,2\n")
    with pytest.raises(AssemblyError, match=r"read exactly as written, and \[' 000', ' 001'\] have spaces"):
        import_folder(tmp_path / "imgs", tmp_path / "r.csv", name="spaced", region="V1")


def test_stimulus_sets_refuse_missing_ids_and_numbers_keep_their_integer_form():
    with pytest.raises(AssemblyError, match="1 stimulus ids of 'x' are missing"):
        StimulusSet(pd.DataFrame({"stimulus_id": [1.0, np.nan], "caption": ["a", "b"]}), identifier="x")
    assert StimulusSet(pd.DataFrame({"stimulus_id": [1.0, 2.0], "caption": ["a", "b"]}), identifier="x").ids == ["1", "2"]
    arrays = StimulusSet.from_arrays([np.zeros((4, 4))] * 2, ids=np.array([7.0, 8.0]))  # ids and lookup agree
    assert arrays.ids == ["7", "8"] and arrays.image("8").size == (4, 4)
    assert StimulusSet.from_texts(["a", "b"], ids=["000", " x "]).ids == ["000", " x "]


def test_in_memory_stimulus_sets_refuse_ids_that_do_not_match_their_items_one_to_one():
    image = np.zeros((4, 4), np.uint8)
    with pytest.raises(AssemblyError, match="3 image arrays but 2 ids"):
        StimulusSet.from_arrays([image] * 3, ids=["a", "b"])
    with pytest.raises(AssemblyError, match="1 image arrays but 2 ids"):
        StimulusSet.from_arrays([image], ids=["a", "b"])
    with pytest.raises(AssemblyError, match="3 texts but 2 ids"):
        StimulusSet.from_texts(["x", "y", "z"], ids=["a", "b"])
    with pytest.raises(AssemblyError, match="not one string"):
        StimulusSet.from_texts("a caption")
    mapped = StimulusSet.from_arrays({"000": image, "cat": image + 255})  # was one stimulus '0' holding the key
    assert mapped.ids == ["000", "cat"] and np.asarray(mapped.image("cat")).max() == 255
    with pytest.raises(AssemblyError, match="not both"):
        StimulusSet.from_arrays({"a": image}, ids=["b"])
