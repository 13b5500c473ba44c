"""Each hook of the discovery contract, exercised by an inline plugin."""

import numpy as np
import pytest

import brainbench
from brainbench import BenchmarkSpec, DatasetCard, MetricCard, ModelCard, TunerCard, hookimpl
from brainbench.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError
from brainbench.registry.hookspecs import hookspec  # noqa: F401  (the marker is public)


def make_model(weights=None, seed=0):
    import torch

    from brainbench.extraction.torch_model import wrap

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2))
    return wrap(net, lambda img: torch.from_numpy(np.asarray(img.resize((16, 16)), dtype=np.float32).transpose(2, 0, 1) / 255),
                name="hooknet", layers=["0", "2"], source="tests")


class ModelsPlugin:
    @hookimpl
    def register_models(self, register):
        register(ModelCard(name="hooknet", source="tests", architecture="cnn", weights=["custom"]), make_model)


def test_register_models_adds_a_buildable_model(plugin):
    plugin(ModelsPlugin(), "models-plugin")
    assert "hooknet" in brainbench.list_models()
    assert brainbench.list_models(where={"source": "tests"}) == ["hooknet"]
    model = brainbench.get_model("hooknet")
    assert model.default_layers == ["0", "2"]


def test_register_datasets(plugin):
    from brainbench.plugins.datasets.synthetic import SyntheticDataset

    class P:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetCard(name="mydata", species="none", recording="synthetic", regions=["early", "late"]), SyntheticDataset)

    plugin(P(), "datasets-plugin")
    assert "mydata" in brainbench.list_datasets()
    assert brainbench.get_dataset("mydata").stimulus_set().ids[:2] == ["synth0000", "synth0001"]


def test_register_metrics(plugin):
    from brainbench.plugins.metrics.ridge import RidgeEncoding

    class P:
        @hookimpl
        def register_metrics(self, register):
            register(MetricCard(name="ridge2", version="1"), lambda **kw: RidgeEncoding(alphas=[1.0], **kw))

    plugin(P(), "metrics-plugin")
    assert brainbench.get_metric("ridge2").alphas == (1.0,)


def test_register_tuners(plugin):
    from brainbench.registry.contracts import Tuner, TuningResult

    class Identity(Tuner):
        card = TunerCard(name="identity", version="1")

        def tune(self, model, data, config):
            return TuningResult(model, {"steps": 0})

    class P:
        @hookimpl
        def register_tuners(self, register):
            register(Identity.card, Identity)

    plugin(P(), "tuners-plugin")
    assert brainbench.list_tuners() == ["fastfood", "identity", "lwf"]  # the built-ins beside it
    assert brainbench.get_tuner("identity").tune(None, None, {}).record == {"steps": 0}


def test_register_benchmarks_contributes_without_editing_registry_toml(plugin):
    class P:
        @hookimpl
        def register_benchmarks(self, register):
            register({"id": "synthetic.both", "dataset": "synthetic", "region": ["early", "late"], "metric": "ridge", "version": "1"})
            register(BenchmarkSpec(id="synthetic.s1late", dataset="synthetic", region="late", subjects=["s1"], metric="ridge", version="1"))

    plugin(P(), "bench-plugin")
    assert {"synthetic.both", "synthetic.s1late"} <= set(brainbench.list_benchmarks())
    assert brainbench.get_benchmark("synthetic.both").region == ["early", "late"]


def test_contributed_benchmark_is_validated_and_the_plugins_other_hooks_still_work(plugin, fresh_plugins):
    class P:
        @hookimpl
        def register_benchmarks(self, register):
            register({"id": "synthetic.bad", "dataset": "synthetic", "region": "late", "metric": "ridge", "version": "1", "ceilng": "none"})

        @hookimpl
        def register_models(self, register):
            register(ModelCard(name="hooknet", source="tests", architecture="cnn", weights=["custom"]), make_model)

    plugin(P(), "bad-bench")
    assert "synthetic.bad" not in brainbench.list_benchmarks()  # a broken hook does not break listing
    failed = {i.name: i for i in brainbench.plugin_info()}["bad-bench"]
    assert failed.status == "failed" and "ceilng" in failed.error and "synthetic.bad" in failed.error
    assert "hooknet" in brainbench.list_models()


def test_two_plugins_registering_one_name_is_an_error_naming_both(plugin):
    class A:
        @hookimpl
        def register_models(self, register):
            register(ModelCard(name="twin", source="a", architecture="x"), make_model)

    class B:
        @hookimpl
        def register_models(self, register):
            register(ModelCard(name="twin", source="b", architecture="x"), make_model)

    plugin(A(), "plugin-a")
    plugin(B(), "plugin-b")
    with pytest.raises(DuplicateNameError, match=r"'twin'.*plugin-a.*plugin-b|'twin'.*plugin-b.*plugin-a"):
        brainbench.list_models()


def test_plugin_implementing_an_unknown_hook_is_reported_not_loaded(plugin, fresh_plugins):
    class Typo:
        @hookimpl
        def register_model(self, register):  # missing "s"
            raise AssertionError("never called")

    plugin(Typo(), "typo-plugin")
    info = {i.name: i for i in brainbench.plugin_info()}["typo-plugin"]
    assert info.status == "failed" and "register_model" in info.error


def test_factory_returning_the_wrong_type_is_a_plugin_error(plugin):
    class P:
        @hookimpl
        def register_models(self, register):
            register(ModelCard(name="notamodel", source="t", architecture="x"), lambda **kw: object())

    plugin(P(), "wrong-type")
    with pytest.raises(PluginError, match="notamodel.*wrong-type.*not a brainbench.Model"):
        brainbench.get_model("notamodel")


def test_card_rejects_unknown_fields():
    with pytest.raises(Exception, match="extra"):
        ModelCard(name="m", source="s", architecture="a", colour="red")


def test_unknown_names_list_close_matches():
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnet19'.*'resnet18'.*brainbench list models"):
        brainbench.get_model("resnet19")
    with pytest.raises(UnknownNameError, match=r"unknown benchmark 'synthetic.erly'.*'synthetic.early'"):
        brainbench.get_benchmark("synthetic.erly")
    with pytest.raises(UnknownNameError, match="unknown metric 'rige'.*'ridge'"):
        brainbench.get_metric("rige")
    with pytest.raises(UnknownNameError, match="unknown dataset"):
        brainbench.get_dataset("nope")


def test_benchmark_with_metric_suffix_derives_from_its_base():
    spec = brainbench.get_benchmark("synthetic.late-ridge")
    assert (spec.id, spec.dataset, spec.region, spec.metric) == ("synthetic.late-ridge", "synthetic", "late", "ridge")
    with pytest.raises(UnknownNameError, match="unknown metric 'nosuchmetric'"):
        brainbench.get_benchmark("synthetic.late-nosuchmetric")
    assert isinstance(ConfigError("x"), ValueError)


def test_a_tuners_result_registers_as_a_new_scorable_model(plugin):
    import torch

    from brainbench.registry.contracts import Tuner, TuningResult
    from brainbench.registry.plugin_manager import unregister_plugin

    class ReinitLate(Tuner):
        """Re-initialises block3: the late population's generating layer is destroyed."""

        card = TunerCard(name="reinit_late", version="1")

        def tune(self, model, data, config):
            torch.manual_seed(config["seed"])
            for module in model.module.block3.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
            return TuningResult(model, {"reinitialised": ["block3"], "seed": config["seed"]})

    class P:
        @hookimpl
        def register_tuners(self, register):
            register(ReinitLate.card, ReinitLate)

    plugin(P(), "reinit-plugin")
    tuned = brainbench.get_tuner("reinit_late").tune(brainbench.get_model("synthetic_generator"), None, {"seed": 3})
    try:
        with pytest.warns(DeprecationWarning, match="use TuningResult.save"):  # in-process only: save persists
            assert tuned.register("generator_reinit") == "generator_reinit"
        assert "generator_reinit" in brainbench.list_models()
        original = brainbench.score("synthetic_generator", "synthetic.late", layers=["block3"], progress=False)
        after = brainbench.score("generator_reinit", "synthetic.late", layers=["block3"], progress=False)
        assert after.model == "generator_reinit" and after.provenance.weights == "tuned"
        assert after.raw < original.raw - 0.1
    finally:
        unregister_plugin("tuned:generator_reinit")
