"""A wheel built from the repository installs into a clean virtual environment and runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def brainbench_head() -> str:
    from brainbench.results.schema import HEAD

    return HEAD


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_lists_models(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, text=True)
    wheel = next(dist.glob("brainbench-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), str(REPO / "tools" / "install.py"), "--target", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    brainbench = str(venv / "bin" / "brainbench")
    out = subprocess.run([brainbench, "list", "models"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "efficientnet_lite0" in out.stdout and "resnet18" in out.stdout
    plugins = json.loads(subprocess.run([brainbench, "plugins"], capture_output=True, text=True, check=True, cwd=tmp_path).stdout)
    assert {p["name"]: p["status"] for p in plugins} == dict.fromkeys(
        ["algonauts2019", "banded", "brainscore", "cowley2023", "deepjuice", "efficientnet_lite", "huggingface", "imported",
         "interpretability", "kriegeskorte2008", "majajhong2015", "nsd", "open_clip", "ridge", "rsa", "synthetic",
         "synthetic_generator", "timm", "torchvision", "tuned", "tuners"], "loaded")
    benches = subprocess.run([brainbench, "list", "benchmarks", "--json"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert {b["name"] for b in json.loads(benches.stdout)} >= {"synthetic.early", "synthetic.late"}  # registry.toml shipped
    torch_ok = subprocess.run([str(python), "-c", "import brainbench; m = brainbench.get_model('efficientnet_lite0'); "
                               "print(m.weights, len(brainbench.get_dataset('algonauts2019').files))"],  # package data shipped
                              capture_output=True, text=True, check=True, cwd=tmp_path)
    assert torch_ok.stdout.strip() == "imagenet1k 80"
    store = subprocess.run([str(python), "-c", "import sqlite3, brainbench; brainbench.ResultsStore('sqlite:///r.sqlite')"
                            ".rows(); print(sqlite3.connect('r.sqlite').execute('SELECT version_num FROM alembic_version')"
                            ".fetchone()[0])"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert store.stdout.strip() == brainbench_head()  # the migrations shipped and ran from the wheel
