"""Listing filters, name parsing and lookups."""

import json

import pytest

import brainbench
from brainbench.names import close_matches, matches, parse_benchmark_id, parse_name, parse_where


def test_list_with_patterns_excludes_and_metadata_filters():
    assert brainbench.list_models("efficientnet_lite*") == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert brainbench.list_models("efficientnet_lite*", exclude="*lite2") == ["efficientnet_lite0", "efficientnet_lite1"]
    assert brainbench.list_models("resnet*", where={"source": "torchvision"}) == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert brainbench.list_models(where={"offline_weights": "true", "architecture": "eff*"}) == [
        "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    with pytest.raises(brainbench.UnknownNameError, match="unknown model metadata field 'nonexistent_key'"):
        brainbench.list_models(where={"nonexistent_key": "x"})
    assert brainbench.list_benchmarks("synthetic.*") == ["synthetic.early", "synthetic.late"]


def test_a_pattern_equal_to_a_label_with_brackets_matches_it():
    assert matches("resnet18[random:1]", "resnet18[random:1]") and matches("resnet18[random]", ["x", "resnet18[random]"])
    assert not matches("resnet18[random]", "resnet18[random:1]")
    assert not matches("resnet18[random]", "*", exclude="resnet18[random]")
    assert matches("resnet18[random]", "resnet18*")


def test_name_helpers():
    assert parse_name("resnet18.imagenet1k_v1") == ("resnet18", "imagenet1k_v1")
    assert parse_name("resnet18") == ("resnet18", None)
    assert parse_benchmark_id("nsd.OTC-ersa", ["ersa"]) == ("nsd", "OTC", "ersa")
    assert parse_benchmark_id("nsd.V4", ["ersa"]).metric is None
    # regions carry hyphens: only a registered metric's name is a suffix
    assert parse_benchmark_id("nsd.FFA-1", ["ersa"]) == ("nsd", "FFA-1", None)
    assert parse_benchmark_id("nsd.FFA-1.subj01-ersa", ["ersa"]) == ("nsd", "FFA-1.subj01", "ersa")
    with pytest.raises(ValueError, match="expected '<dataset>.<region>"):
        parse_benchmark_id("nsd")
    assert parse_where(["source=timm,task=classification", "size=224"]) == {"source": "timm", "task": "classification", "size": "224"}
    with pytest.raises(ValueError, match="key=value"):
        parse_where(["source"])
    assert matches("resnet18", ["res*"], ["*50"]) and not matches("resnet50", ["res*"], ["*50"])
    assert close_matches("resnet19", ["resnet18", "alexnet", "resnet50"])[0] == "resnet18"


def test_model_name_with_weights_variant_selects_weights():
    with pytest.raises(brainbench.WeightsNotFoundError):
        brainbench.get_model("resnet18.imagenet1k_v1")
    with pytest.raises(brainbench.UnknownNameError, match="weights of resnet18.*imagenet1k_v1"):
        brainbench.get_model("resnet18.imagenet9k")


FACTORY_MODULE = '''
import numpy as np
import torch
import brainbench

def make(weights=None, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(3))
    pre = lambda img: torch.from_numpy(np.asarray(img.resize((24, 24)), dtype=np.float32).transpose(2, 0, 1) / 255)
    return brainbench.wrap(net, pre, name="labnet", layers=["1", "2"], weights=weights or "v1")

def bare():
    return torch.nn.Linear(2, 2)
'''


def test_any_user_model_through_module_colon_factory(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from brainbench.cli.commands import main

    (tmp_path / "labmodels.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = brainbench.get_model("labmodels:make", seed=3)
    assert model.label == "labnet" and model.default_layers == ["1", "2"]
    monkeypatch.setenv("BRAINBENCH_DB", f"sqlite:///{tmp_path / 'r.sqlite'}")
    out = CliRunner().invoke(main, ["score", "--model", "labmodels:make", "-b", "synthetic.early", "--json", "-q"])
    assert out.exit_code == 0, out.output
    import json

    assert json.loads(out.stdout)[0]["model"] == "labnet"
    with pytest.raises(brainbench.PluginError, match=r"labmodels:bare returned Linear.*brainbench.wrap"):
        brainbench.get_model("labmodels:bare")
    with pytest.raises(brainbench.UnknownNameError, match=r"unknown factory in labmodels 'mak'.*'make'"):
        brainbench.get_model("labmodels:mak")
    with pytest.raises(brainbench.BrainbenchError, match="cannot import 'nosuchmodule'.*no such module"):
        brainbench.get_model("nosuchmodule:make")
    (tmp_path / "labbroken.py").write_text("import a_dependency_not_installed\n")
    with pytest.raises(brainbench.BrainbenchError, match="'labbroken'.*was found but failed to import: No module named "
                                                          "'a_dependency_not_installed'"):
        brainbench.get_model("labbroken:make")


def test_the_command_finds_a_factory_in_the_folder_it_runs_in(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "labmodels.py").write_text(FACTORY_MODULE)
    command = Path(sys.executable).with_name("brainbench")  # the installed console script: no '' on its sys.path
    out = subprocess.run([str(command), "layers", "labmodels:make", "--json"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert [row["layer"] for row in json.loads(out.stdout)] == ["0", "1", "2"]


def test_benchmarks_of_hyphenated_regions_resolve_with_and_without_a_metric_suffix():
    declared = brainbench.get_benchmark("nsd.FFA-1")
    assert (declared.region, declared.metric) == ("FFA-1", "ridge")
    derived = brainbench.get_benchmark("nsd.FFA-1-rsa")
    assert (derived.id, derived.region, derived.metric, derived.ceiling) == ("nsd.FFA-1-rsa", "FFA-1", "rsa", "ncsnr")
    subject = brainbench.get_benchmark("nsd.VWFA-2.subj03-ereg")
    assert (subject.region, subject.subjects, subject.metric) == ("VWFA-2", ["3"], "ereg")
    with pytest.raises(brainbench.UnknownNameError, match="unknown metric 'rdge'.*ridge"):
        brainbench.get_benchmark("nsd.FFA-1-rdge")
    with pytest.raises(brainbench.UnknownNameError, match="unknown benchmark 'nsd.FFA-3'"):
        brainbench.get_benchmark("nsd.FFA-3")


def test_another_metric_is_another_benchmark():
    from brainbench.registry.catalog import with_metric

    pls = brainbench.get_benchmark("majajhong2015.V4-pls")
    assert with_metric(pls, "pls") is pls
    assert with_metric(pls, "ridge").id == "majajhong2015.V4"  # the declared base, not a derived copy
    assert with_metric(brainbench.get_benchmark("nsd.FFA-1"), "rsa").id == "nsd.FFA-1-rsa"
    assert with_metric(pls, "rsa").id == "majajhong2015.V4-rsa"


def test_filters_reach_the_fields_a_plugin_adds_to_its_cards():
    from brainbench.registry.cards import ModelCard
    from brainbench.registry.entries import Registry

    class PrimateCard(ModelCard):
        species: str = "macaque"

    registry = Registry("model", ModelCard)
    registry.add(PrimateCard(name="monkeynet", source="lab", architecture="cnn"), lambda **_: None, plugin="lab")
    registry.add(ModelCard(name="plain", source="lab", architecture="cnn"), lambda **_: None, plugin="lab")
    assert [e.name for e in registry.list(where={"species": "mac*"})] == ["monkeynet"]
    assert registry.values("species") == ["macaque"] and registry.values("source") == ["lab"]
    assert registry.unmatched({"species": "hum*", "source": "l?b"}) == {"species": ["macaque"]}
    with pytest.raises(brainbench.UnknownNameError, match="'specie'. Did you mean 'species'"):
        registry.list(where={"specie": "macaque"})


def test_a_plugin_reading_the_registry_it_registers_into_sees_what_came_before_it(plugin):
    """A register hook that reads its own kind's registry (to derive from a declared benchmark, or build another
    dataset) sees the registry as built so far, instead of rebuilding it recursively until a RecursionError was
    recorded against whichever built-in plugin's hook happened to be deepest."""
    from brainbench import DatasetCard, hookimpl, plugin_info

    seen = {}

    class Reader:
        @hookimpl
        def register_datasets(self, register):
            seen["datasets"] = brainbench.list_datasets()
            seen["synthetic"] = brainbench.get_dataset("synthetic").card.name
            register(DatasetCard(name="reader", species="none", recording="-", regions=["x"]), object)

        @hookimpl
        def register_benchmarks(self, register):
            spec = brainbench.get_benchmark("majajhong2015.IT").model_dump()  # declared in registry.toml
            register({**spec, "id": "reader.x", "dataset": "reader", "region": "x"})

    plugin(Reader(), "reader-plugin")
    assert "reader" in brainbench.list_datasets() and "reader.x" in brainbench.list_benchmarks()
    assert "synthetic" in seen["datasets"] and "reader" not in seen["datasets"] and seen["synthetic"] == "synthetic"
    status = {info.name: info for info in plugin_info()}
    assert all(info.status == "loaded" for info in status.values()), {n: i.error for n, i in status.items()}
