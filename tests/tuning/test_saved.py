"""A tuned model is a model: saved with its card (brainbench.tuning.saved), registered by the built-in plugin
``tuned`` in this and later processes, scored and extracted by name, listed and deleted (brainbench tune)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brainbench
from brainbench import hookimpl
from brainbench.errors import ConfigError, DataFileError, UnknownNameError
from brainbench.registry import tuning
from brainbench.registry.contracts import TuningResult
from brainbench.registry.entries import refresh

IDS = {"train": ["img-01", "007", "a b"], "validation": ["x.png"], "test": ["0.5"]}  # ids stay strings as written


def record(of: str, **changes) -> dict:
    base = {"tuner": "by-hand", "tuner_version": "1", "parent": of, "parent_weights": None,
            "data": "synthetic.late", "stimulus_ids": IDS, "config": {"lr": 0.01, "layers": ["block3"]}, "seed": 3,
            "curves": {"train_loss": [1.5, 0.75, 0.5], "val_loss": [1.6, 0.9, 0.8]}}
    return {**base, **changes}


def reinit_generator(seed: int = 3) -> TuningResult:
    """synthetic_generator with block3 re-initialised (seeded): the late population's generating layer destroyed."""
    import torch

    model = brainbench.get_model("synthetic_generator")
    torch.manual_seed(seed)
    model.module.block3[0].reset_parameters()
    return TuningResult(model, record("synthetic_generator"))


def test_a_saved_tuned_model_is_built_by_name_with_its_weights_and_card(home):
    """efficientnet_lite0 (offline ImageNet weights) with its stem halved and its classifier bias shifted: the model
    built by name computes exactly what the tuned module computes, not what the parent computes."""
    import torch
    from safetensors.torch import load_file

    parent_hash = brainbench.get_model("efficientnet_lite0").weights_hash()
    model = brainbench.get_model("efficientnet_lite0")
    with torch.no_grad():
        model.module._conv_stem.weight.mul_(0.5)
        model.module._fc.bias.add_(1.0)
    model.module.train()  # a tuner may hand its model back in training mode: the hash is the rebuilt (eval) one's
    folder = TuningResult(model, record("efficientnet_lite0", data="cowley2023.V4")).save("lite0-half",
                                                                                            description="by hand")
    assert folder == home / "tuned" / "lite0-half"
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "weights.safetensors"]
    assert sorted(p.name for p in (home / "tuned").iterdir()) == ["lite0-half"]  # no temporary folder left
    assert model.module.training  # its modes are given back
    card = json.loads((folder / "card.json").read_text())
    assert card["parent"] == "efficientnet_lite0" and card["parent_weights"] == "imagenet1k"
    assert card["parent_weights_hash"] == parent_hash and card["weights_hash"] != parent_hash
    assert card["stimulus_ids"] == IDS and card["curves"]["train_loss"] == [1.5, 0.75, 0.5]
    assert (card["tuner"], card["tuner_version"], card["seed"], card["data"]) == ("by-hand", "1", 3, "cowley2023.V4")
    assert card["config"] == {"lr": 0.01, "layers": ["block3"]} and card["description"] == "by hand"
    assert card["brainbench_version"] == brainbench.__version__ and card["created"].endswith("+00:00")
    assert card["weights_sha256"] == tuning.file_sha256(folder / "weights.safetensors")
    stored = load_file(str(folder / "weights.safetensors"))
    state = model.module.state_dict()
    assert stored.keys() == state.keys() and all(torch.equal(stored[k], state[k]) for k in state)

    tuned = brainbench.get_model("lite0-half")
    assert (tuned.name, tuned.label, tuned.weights) == ("lite0-half", "lite0-half", "tuned")
    assert tuned.card.tuned_from == "efficientnet_lite0" and tuned.card.source == "tuned"
    assert (tuned.card.architecture, tuned.card.input_size) == ("efficientnet", 224)
    assert tuned.card.training_data == "in1k+cowley2023.V4" and tuned.weights_hash() == card["weights_hash"]
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    model.module.eval()
    with torch.no_grad():
        ours, want, before = tuned.module(x), model.module(x), brainbench.get_model("efficientnet_lite0").module(x)
    assert torch.equal(ours, want)
    assert (ours - before).abs().max() > 0.5  # the bias alone moves every logit by 1
    assert brainbench.list_models(where={"tuned_from": "efficientnet_lite0"}) == ["lite0-half"]


def test_a_new_process_lists_extracts_scores_and_deletes_the_tuned_model(home, tmp_path):
    """Saved here, then in new processes (the CLI, same data home): listed under its parent, its features are the
    tuned module's, it scores under its name and hash, and once deleted it is gone."""
    from PIL import Image

    from brainbench.data.netcdf import read_assembly
    from brainbench.data.stimuli import StimulusSet

    result = reinit_generator()
    folder = result.save("generator-reinit")
    card = json.loads((folder / "card.json").read_text())
    env = {**os.environ, "BRAINBENCH_HOME": str(home), "BRAINBENCH_DB": f"sqlite:///{tmp_path / 'r.sqlite'}"}

    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run([sys.executable, "-m", "brainbench", *args], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout if code == 0 else done.stderr

    listed = json.loads(cli("list", "models", "--where", "tuned_from=synthetic_generator", "--json"))
    assert [(m["name"], m["source"], m["plugin"], m["weights"]) for m in listed] == [
        ("generator-reinit", "tuned", "tuned", ["tuned"])]
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"im{i}.png")
    cli("extract", "-m", "generator-reinit", "-s", str(images), "--layers", "block3", "-q", "-o", str(tmp_path / "out"))
    theirs = read_assembly(tmp_path / "out" / "block3.nc")
    stimuli = StimulusSet.from_files(sorted(images.iterdir()), ids=["im0", "im1", "im2"])
    ours = result.model.extract(stimuli, ["block3"], progress=False, device="cpu", cache=False)["block3"]
    assert list(theirs["stimulus_id"].values) == ["im0", "im1", "im2"]
    np.testing.assert_allclose(theirs.values, ours.values, rtol=1e-5, atol=1e-6)
    scored = json.loads(cli("score", "-m", "generator-reinit", "-b", "synthetic.late", "--layers", "block3", "-q",
                            "--no-store", "--json"))[0]
    assert scored["model"] == "generator-reinit" and scored["provenance"]["weights_hash"] == card["weights_hash"]
    assert scored["raw"] < 0.6  # the generator's own block3 scores 0.72 here: its late population's layer is gone
    tuned_list = json.loads(cli("tune", "list", "--parent", "synthetic_generator", "--json"))
    assert [(t["name"], t["tuner"], t["data"], t["stimuli"]) for t in tuned_list] == [
        ("generator-reinit", "by-hand", "synthetic.late", {"train": 3, "validation": 1, "test": 1})]
    assert cli("tune", "delete", "generator-reinit").strip() == f"removed tuned model 'generator-reinit': {folder}"
    assert not folder.exists() and list((home / "tuned").iterdir()) == []
    error = cli("list", "models", "--where", "tuned_from=synthetic_generator", code=2)
    assert "no model has tuned_from=synthetic_generator" in error


def test_names_that_exist_are_refused_unless_a_tuned_model_is_overwritten(home):
    import torch

    result = reinit_generator()
    for taken, why in [("synthetic_generator", "already a registered model"), ("efficientnet_lite0",
                       "already a registered model"), ("synthetic_generator.mine", "would name weights 'mine'"),
                       ("bad/name", "must be letters"), ("a.b*", "must be letters")]:
        with pytest.raises(ConfigError, match=why):
            result.save(taken)
    assert not (home / "tuned").exists()
    first = result.save("reinit")
    with pytest.raises(ConfigError, match="already stored in .*tune delete reinit"):
        reinit_generator(seed=4).save("reinit")
    assert brainbench.get_model("reinit").weights_hash() == result.model.weights_hash()
    other = reinit_generator(seed=4)
    assert other.save("reinit", overwrite=True) == first
    rebuilt = brainbench.get_model("reinit")
    assert torch.equal(rebuilt.module.block3[0].weight, other.model.module.block3[0].weight)
    assert not torch.equal(rebuilt.module.block3[0].weight, result.model.module.block3[0].weight)


@pytest.mark.parametrize("key", tuning.RECORD_KEYS)
def test_a_record_missing_a_key_is_refused_naming_it_and_writes_nothing(home, key):
    result = reinit_generator()
    del result.record[key]
    with pytest.raises(ConfigError, match=f"lacks '{key}'"):
        result.save("reinit")
    assert not (home / "tuned").exists()


def test_malformed_records_are_refused(home):
    result = reinit_generator()
    bad = [({"stimulus_ids": {"train": [1, 2]}}, "as strings"), ({"stimulus_ids": ["a", "b"]}, "map each split"),
           ({"seed": "3"}, "'seed' must be an integer"), ({"config": {"f": object()}}, "'config' must be JSON"),
           ({"parent": "nonet"}, "unknown model 'nonet'")]
    for change, why in bad:
        with pytest.raises((ConfigError, UnknownNameError), match=why):
            TuningResult(result.model, record("synthetic_generator", **change)).save("reinit")
    assert not (home / "tuned").exists()


def test_a_failure_mid_write_leaves_no_folder(home, monkeypatch):
    import safetensors.torch

    def half_written(state, path):
        Path(path).write_bytes(b"\x00" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", half_written)
    with pytest.raises(DataFileError, match="cannot write tuned model 'reinit' .*disk full.*nothing was written"):
        reinit_generator().save("reinit")
    assert list((home / "tuned").iterdir()) == []
    assert "reinit" not in brainbench.list_models()


class TinyParent:
    """A registered parent whose weights come from ``seed``: changing it changes the parent's weights."""

    seed = 0

    @hookimpl
    def register_models(self, register):
        from brainbench.registry.cards import ModelCard

        def build(weights=None, seed=0):
            import torch
            from torch import nn

            torch.manual_seed(TinyParent.seed)
            net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
            return brainbench.wrap(net, lambda image: torch.zeros(3, 8, 8), name="tinyparent", weights="fixed",
                                   input_size=8)

        register(ModelCard(name="tinyparent", source="test", architecture="cnn", weights=["fixed"], input_size=8),
                 build)


def test_a_parent_whose_weights_changed_cannot_rebuild_its_tuned_model(home, plugin, monkeypatch):
    import torch

    plugin(TinyParent(), "tinyparent-plugin")
    model = brainbench.get_model("tinyparent")
    with torch.no_grad():
        model.module[4].bias.add_(1.0)
    TuningResult(model, record("tinyparent")).save("tiny-tuned")
    assert torch.equal(brainbench.get_model("tiny-tuned").module[4].bias, model.module[4].bias)
    monkeypatch.setattr(TinyParent, "seed", 1)
    with pytest.raises(DataFileError, match="weights of its parent 'tinyparent' .* changed since it was tuned"):
        brainbench.get_model("tiny-tuned")
    with pytest.raises(DataFileError, match="had weights hash sha"):  # a record naming a parent hash not the parent's
        TuningResult(model, record("tinyparent", parent_weights_hash="sha256:0")).save("tiny-other")


def test_broken_stored_models_stay_listed_and_say_what_is_wrong(home, plugin):
    from click.testing import CliRunner

    from brainbench.cli.commands import main

    reinit_generator().save("fine")
    corrupt = reinit_generator().save("corrupt")
    (corrupt / "card.json").write_text('{"name": "corrupt", "parent": ')
    no_weights = reinit_generator().save("noweights")
    (no_weights / "weights.safetensors").unlink()
    changed = reinit_generator().save("changed")
    data = bytearray((changed / "weights.safetensors").read_bytes())
    data[-4:] = b"\x00\x00\x80\x7f"  # one weight becomes infinity
    (changed / "weights.safetensors").write_bytes(bytes(data))
    refresh()
    assert {"fine", "corrupt", "noweights", "changed", "efficientnet_lite0"} <= set(brainbench.list_models())
    assert brainbench.get_model("fine").weights == "tuned"
    with pytest.raises(DataFileError, match=r"'corrupt' .* cannot be built: its card.json is not readable JSON.*"
                                            r"brainbench tune delete corrupt"):
        brainbench.get_model("corrupt")
    with pytest.raises(DataFileError, match="weights file weights.safetensors is missing"):
        brainbench.get_model("noweights")
    with pytest.raises(DataFileError, match="does not match its card's sha256"):
        brainbench.get_model("changed")
    runner = CliRunner()
    listed = json.loads(runner.invoke(main, ["tune", "list", "--json"]).stdout)
    assert {t["name"]: bool(t["problem"]) for t in listed} == {"changed": False, "corrupt": True, "fine": False,
                                                               "noweights": True}
    out = runner.invoke(main, ["tune", "delete", "corrupt"])
    assert out.exit_code == 0 and not corrupt.exists() and "corrupt" not in brainbench.list_models()
    unknown = runner.invoke(main, ["tune", "delete", "fien"])
    assert unknown.exit_code == 2 and "unknown tuned model 'fien'. Did you mean 'fine'?" in unknown.output
    assert (home / "tuned" / "fine").is_dir()


def test_tuned_folders_on_the_search_path_and_names_that_clash(home, tmp_path, monkeypatch):
    """BRAINBENCH_TUNED_PATH adds folders; a stored name that is already registered is skipped with a warning."""
    elsewhere = tmp_path / "lab"
    reinit_generator().save("labnet", folder=elsewhere)
    assert brainbench.get_model("labnet").weights == "tuned"  # this process knows where it saved it
    monkeypatch.setattr(tuning, "_saved_here", [])
    refresh()
    assert "labnet" not in brainbench.list_models()  # a later process finds it only on the search path
    monkeypatch.setenv(tuning.TUNED_PATH_ENV, os.pathsep.join([str(tmp_path / "missing"), str(elsewhere)]))
    refresh()
    assert brainbench.list_models(where={"tuned_from": "synthetic_generator"}) == ["labnet"]
    (elsewhere / "labnet").rename(elsewhere / "efficientnet_lite0")
    refresh()
    with pytest.warns(tuning.TunedModelWarning, match="'efficientnet_lite0' .* is already a model of plugin "
                                                      "'efficientnet_lite'"):
        models = brainbench.list_models()
    assert "efficientnet_lite0" in models and brainbench.get_model("efficientnet_lite0").weights == "imagenet1k"


def test_a_tuned_state_that_does_not_fit_its_parent_or_a_model_without_a_module_is_refused(home, plugin):
    from torch import nn

    result = reinit_generator()
    result.model.module.head[1] = nn.Linear(256, 5)  # a new head: the parent's architecture could not load it
    with pytest.raises(ConfigError, match=r"does not fit its parent .*other shapes \['head.1.bias', 'head.1.weight'\]"):
        result.save("reinit")

    class NoModule:
        """A model with no torch module to save."""

    with pytest.raises(ConfigError, match="without a torch module"):
        TuningResult(NoModule(), record("synthetic_generator")).save("reinit")

    class OneObject:  # a parent whose factory hands out one object: the tuned model would be its own parent
        model = brainbench.get_model("synthetic_generator")

        @hookimpl
        def register_models(self, register):
            register(self.model.card.model_copy(update={"name": "oneobject"}), lambda weights=None, seed=0: self.model)

    plugin(OneObject(), "oneobject-plugin")
    with pytest.raises(ConfigError, match="returned the tuned model itself"):
        TuningResult(OneObject.model, record("oneobject")).save("reinit")
    assert not (home / "tuned").exists()


def test_a_tuned_list_filters_by_parent(home, plugin):
    from click.testing import CliRunner

    from brainbench.cli.commands import main

    plugin(TinyParent(), "tinyparent-plugin")
    reinit_generator().save("gen-a")
    TuningResult(brainbench.get_model("tinyparent"), record("tinyparent", data="cowley2023.V4")).save("tiny-a")
    runner = CliRunner()
    listed = json.loads(runner.invoke(main, ["tune", "list", "--json"]).stdout)
    assert [(t["name"], t["parent"], t["data"]) for t in listed] == [("gen-a", "synthetic_generator", "synthetic.late"),
                                                                   ("tiny-a", "tinyparent", "cowley2023.V4")]
    table = runner.invoke(main, ["tune", "list", "--parent", "tinyparent"], env={"COLUMNS": "200"}).stdout
    assert "1 tuned model of tinyparent" in table and "tiny-a" in table and "gen-a" not in table
    assert "by-hand 1" in table and "train 3, validation 1, test 1" in table
    assert brainbench.list_models(where={"tuned_from": "tinyparent"}) == ["tiny-a"]


def test_a_tuned_model_tuned_again_chains_and_deleting_its_parent_names_it(home):
    """A tuned model is a parent like any other: tuned again, saved, rebuilt through its own parent; deleting the
    first names the second, which can no longer be built."""
    import torch
    from click.testing import CliRunner

    from brainbench.cli.commands import main
    from brainbench.errors import WeightsNotFoundError

    reinit_generator().save("first")
    model = brainbench.get_model("first")
    with torch.no_grad():
        model.module.head[1].bias.add_(2.0)
    TuningResult(model, record("first", parent_weights="tuned", data="cowley2023.V4")).save("second")
    second = brainbench.get_model("second")
    assert torch.equal(second.module.head[1].bias, model.module.head[1].bias)
    assert second.card.tuned_from == "first" and second.card.training_data == "none+synthetic.late+cowley2023.V4"
    out = CliRunner().invoke(main, ["tune", "delete", "first"])
    assert out.exit_code == 0 and "note: second was tuned from 'first' and can no longer be built" in out.output
    with pytest.raises(WeightsNotFoundError, match="tuned from 'first', which is not registered now"):
        brainbench.get_model("second")
