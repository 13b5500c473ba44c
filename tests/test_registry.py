"""Listing filters, name parsing and lookups."""

import pytest

import brainbench
from brainbench.names import close_matches, matches, parse_benchmark_id, parse_name, parse_where


def test_list_with_patterns_excludes_and_metadata_filters():
    assert brainbench.list_models("efficientnet_lite*") == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert brainbench.list_models("efficientnet_lite*", exclude="*lite2") == ["efficientnet_lite0", "efficientnet_lite1"]
    assert brainbench.list_models("resnet*", where={"source": "torchvision"}) == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert brainbench.list_models(where={"offline_weights": "true", "architecture": "eff*"}) == [
        "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert brainbench.list_models(where={"nonexistent_key": "x"}) == []
    assert brainbench.list_benchmarks("synthetic.*") == ["synthetic.early", "synthetic.late"]


def test_name_helpers():
    assert parse_name("resnet18.imagenet1k_v1") == ("resnet18", "imagenet1k_v1")
    assert parse_name("resnet18") == ("resnet18", None)
    assert parse_benchmark_id("nsd.OTC-ersa") == ("nsd", "OTC", "ersa")
    assert parse_benchmark_id("nsd.V4").metric is None
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

    from brainbench.cli import main

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
    with pytest.raises(brainbench.BrainbenchError, match="cannot import 'nosuchmodule'"):
        brainbench.get_model("nosuchmodule:make")
