"""The dataset-import contract: a dataset that implements ``Dataset.import_data`` and declares its
``import_options`` is imported by ``brainbench data import <dataset> SOURCE [options]`` (options parsed from its
declaration, shown in --help), through ``brainbench.registry.user_datasets.import_dataset``; one that does not
implement it is a clear error naming those that can."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import brainbench
from brainbench import DatasetCard
from brainbench.cli.commands import EXIT_USAGE, main
from brainbench.errors import ConfigError, PluginError
from brainbench.registry.contracts import Dataset, ImportOption
from brainbench.registry.user_datasets import import_dataset, importable_datasets

RECEIVED: list[dict] = []  # what import_data was called with, per call


class Tally(Dataset):
    """Imports ``source`` (a CSV of ``stimulus_id,value`` rows), scaling each value by ``scale``."""

    import_source = "a CSV of stimulus_id,value rows"
    import_options = (
        ImportOption("scale", "multiply every value", "int"),
        ImportOption("regions", "comma-separated regions", "texts"),
        ImportOption("subjects", "comma-separated subjects", "ints"),
        ImportOption("keep", "which rows to keep", "choice", ("all", "even"), "all"),
        ImportOption("strict", "refuse empty rows", "flag"),
    )

    def __init__(self):
        self.card = DatasetCard(name="tally", species="none", recording="synthetic", regions=["V1", "V2"],
                                subjects=["1", "2"], simulated=True)

    def import_data(self, source, *, progress=True, **options):
        from brainbench.data.downloads import dataset_dir

        RECEIVED.append({"source": str(source), "progress": progress, **options})
        rows = [line.split(",") for line in Path(source).read_text().split()]
        if options.get("keep") == "even":
            rows = rows[::2]
        folder = dataset_dir("tally")
        folder.mkdir(parents=True, exist_ok=True)
        values = {sid: float(v) * options.get("scale", 1) for sid, v in rows}
        (folder / "tally.json").write_text(json.dumps(values))
        return folder

    def stimulus_set(self):  # the imported ids as one-line captions
        from brainbench.data.downloads import dataset_dir
        from brainbench.data.stimuli import StimulusSet

        ids = list(json.loads((dataset_dir("tally") / "tally.json").read_text()))
        return StimulusSet.from_texts([f"stimulus {sid}" for sid in ids], ids)

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import neural_assembly
        from brainbench.data.downloads import dataset_dir

        values = json.loads((dataset_dir("tally") / "tally.json").read_text())
        return neural_assembly(np.array(list(values.values()))[:, None], stimulus_id=list(values),
                               neuroid_id=["n0"], region="V1", subject="1")


@pytest.fixture
def tally(dataset_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))
    RECEIVED.clear()
    dataset_plugin(Tally)
    source = tmp_path / "tally.csv"
    source.write_text("s0,1.5\ns1,-2\ns2,4\n")
    return source


def run(*args):
    return CliRunner().invoke(main, ["data", "import", *map(str, args)])


def test_a_dataset_imports_through_the_cli_with_its_declared_options(tally):
    out = run("tally", tally, "--scale", 3, "--regions", "V1,V2", "--subjects", "1, 2", "--strict", "-q")
    assert out.exit_code == 0, out.output
    assert RECEIVED == [{"source": str(tally), "progress": False, "scale": 3, "regions": ["V1", "V2"],
                         "subjects": [1, 2], "keep": "all", "strict": True}]
    assert out.output.strip().startswith("tally imported into ") and out.output.strip().endswith("tally")
    assembly = brainbench.get_dataset("tally").assembly()
    assert list(assembly["stimulus_id"].values) == ["s0", "s1", "s2"]
    np.testing.assert_array_equal(assembly.values[:, 0], [4.5, -6.0, 12.0])  # 3 x (1.5, -2, 4)


def test_options_not_given_are_left_to_the_dataset_and_root_is_the_source(tally):
    out = run("tally", "--root", tally, "--keep", "even")
    assert out.exit_code == 0, out.output
    assert RECEIVED == [{"source": str(tally), "progress": True, "keep": "even"}]  # no scale, regions, ...
    np.testing.assert_array_equal(brainbench.get_dataset("tally").assembly().values[:, 0], [1.5, 4.0])


def test_the_declared_options_are_in_help_and_bad_values_are_usage_errors(tally):
    helped = run("tally", "--help").output
    for text in ("a CSV of stimulus_id,value rows", "--scale INTEGER", "--regions TEXT", "--keep [all|even]",
                 "[default: all]", "--strict", "--root PATH"):
        assert text in helped, text
    assert "tally" in run("--help").output  # listed beside assembly and folder
    bad = run("tally", tally, "--subjects", "1,x")
    assert bad.exit_code == EXIT_USAGE and "--subjects takes comma-separated whole numbers" in bad.output
    assert run("tally", tally, "--keep", "odd").exit_code == EXIT_USAGE
    twice = run("tally", tally, "--root", tally.parent)
    assert twice.exit_code == EXIT_USAGE and "give the source of tally once" in twice.output
    none = run("tally")
    assert none.exit_code == EXIT_USAGE and "give the source of tally (a CSV of stimulus_id,value rows)" in none.output
    assert RECEIVED == []  # nothing was imported by any of them


def test_a_dataset_without_import_data_says_which_can(tally):
    out = run("synthetic", tally, "--anything", "1")
    assert out.exit_code == EXIT_USAGE
    assert "dataset synthetic cannot be imported from your files" in out.output
    assert "datasets that can: nsd, tally" in out.output
    with pytest.raises(ConfigError, match="cannot be imported from your files.*`brainbench data list`"):
        brainbench.get_dataset("synthetic").import_data(tally)
    assert "unknown dataset 'nosuch'" in run("nosuch", tally).output
    assert importable_datasets() == ["nsd", "tally"]
    listed = {r["name"]: r["importable"] for r in json.loads(CliRunner().invoke(main, ["data", "list", "--json"]).output)}
    assert listed["tally"] and listed["nsd"] and not listed["synthetic"]


def test_python_import_refuses_an_option_the_dataset_does_not_declare(tally):
    with pytest.raises(ConfigError, match="takes no import option 'scales'; its options are scale, regions, subjects, "
                                          "keep, strict"):
        import_dataset("tally", tally, scales=2)
    assert RECEIVED == []
    folder = import_dataset("tally", tally, progress=False, scale=2)
    assert RECEIVED == [{"source": str(tally), "progress": False, "scale": 2}] and (folder / "tally.json").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (("source", "a name"), "must be a Python identifier other than source, root, quiet, progress"),
    (("bad name", "a name"), "must be a Python identifier"),
    (("n", "a count", "float"), "has kind 'float'; the kinds are text, int, ints, texts, choice, flag"),
    (("n", "a choice", "choice"), "choices go with kind 'choice' and it needs them"),
    (("n", "a number", "int", ("a",)), "choices go with kind 'choice'"),
])
def test_a_bad_import_option_declaration_is_a_plugin_error(args, message):
    with pytest.raises(PluginError, match=message):
        ImportOption(*args)
