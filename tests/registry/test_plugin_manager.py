"""Entry-point loading: fault isolation, the disable switch, and the report."""

import sys
import textwrap

import pytest

import brainbench
from brainbench.registry.plugin_manager import DISABLE_ENV


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch, fresh_plugins):
    """An installed distribution (dist-info on sys.path) whose plugin raises on import."""
    (tmp_path / "bb_broken_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    info = tmp_path / "bb_broken-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bb-broken\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [brainbench]
        broken = bb_broken_plugin
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("bb_broken_plugin", None)


def test_plugin_that_raises_on_import_is_reported_and_the_rest_works(broken_distribution):
    from brainbench.registry.plugin_manager import reset_plugins

    reset_plugins()
    info = {i.name: i for i in brainbench.plugin_info()}
    broken = info["broken"]
    assert broken.status == "failed"
    assert broken.module == "bb_broken_plugin"
    assert broken.distribution == "bb-broken" and broken.version == "1.2.3"
    assert "RuntimeError: boom at import" in broken.error
    assert info["torchvision"].status == "loaded"
    assert "resnet18" in brainbench.list_models()


def test_builtins_are_entry_points_of_the_brainbench_distribution(fresh_plugins):
    info = {i.name: i for i in brainbench.plugin_info()}
    for name in ("torchvision", "efficientnet_lite", "synthetic", "synthetic_generator", "ridge"):
        assert info[name].distribution == "brainbench" and info[name].status == "loaded"
    assert info["torchvision"].hooks == ["register_models"]
    assert info["ridge"].hooks == ["register_metrics"]


def test_disable_plugins_environment_variable(monkeypatch, fresh_plugins):
    from brainbench.registry.plugin_manager import reset_plugins

    monkeypatch.setenv(DISABLE_ENV, "torchvision, ridge")
    reset_plugins()
    assert "resnet18" not in brainbench.list_models()
    assert "efficientnet_lite0" in brainbench.list_models()
    info = {i.name: i for i in brainbench.plugin_info()}
    assert info["torchvision"].status == "disabled" and info["ridge"].status == "disabled"
