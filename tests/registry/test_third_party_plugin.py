"""A separately packaged plugin, pip-installed into this environment, is found and used."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.paths import TESTS

EXAMPLE = TESTS / "helpers" / "example_plugin"


def run(*args, **kwargs):
    return subprocess.run([*args], capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    source = tmp_path_factory.mktemp("plugin") / "example_plugin"
    shutil.copytree(EXAMPLE, source)
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(source))
    try:
        yield source
    finally:
        run(sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "bb-example-plugin")


@pytest.mark.slow
def test_installed_plugin_is_listed_scored_and_passes_its_own_tests(installed, tmp_path):
    brainbench = [sys.executable, "-m", "brainbench"]
    models = json.loads(run(*brainbench, "list", "models", "--where", "source=bb-example", "--json").stdout)
    assert [m["name"] for m in models] == ["tinynet"] and models[0]["plugin"] == "example"
    plugins = {p["name"]: p for p in json.loads(run(*brainbench, "plugins").stdout)}
    assert plugins["example"]["distribution"] == "bb-example-plugin" and plugins["example"]["version"] == "0.3.0"
    assert "synthetic.late_s1" in run(*brainbench, "list", "benchmarks").stdout
    out = json.loads(run(*brainbench, "score", "-m", "tinynet", "-b", "synthetic.late_s1", "--json", "-q",
                         "--db", f"sqlite:///{tmp_path / 'r.sqlite'}").stdout)
    assert out[0]["model"] == "tinynet" and list(out[0]["subjects"]) == ["s1"]
    assert out[0]["layer"] in {"1", "3", "4"} and 0 < out[0]["raw"] < 1
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(installed / "tests")],
                         capture_output=True, text=True, cwd=installed)
    assert own.returncode == 0 and "1 passed" in own.stdout, own.stdout + own.stderr
