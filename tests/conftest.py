"""Shared fixtures: an isolated data home, offline mode, seeded RNGs, inline plugins."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
collect_ignore = ["helpers/example_plugin"]  # its own tests run after it is installed (test_third_party_plugin)


@pytest.fixture(autouse=True, scope="session")
def _offline_home(tmp_path_factory):
    """The test session runs offline with its own data home, torch hub dir and results database, and the
    real data in ../shared/data as its dataset mirror (where that folder is beside the checkout)."""
    home = tmp_path_factory.mktemp("bbhome")
    keys = ("BRAINBENCH_HOME", "BRAINBENCH_OFFLINE", "TORCH_HOME", "BRAINBENCH_DB", "BRAINBENCH_MIRROR")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(BRAINBENCH_HOME=str(home), BRAINBENCH_OFFLINE="1", TORCH_HOME=str(home / "torch"))
    os.environ.pop("BRAINBENCH_DB", None)
    os.environ.pop("BRAINBENCH_MIRROR", None)
    if SHARED_DATA.is_dir():
        os.environ["BRAINBENCH_MIRROR"] = str(SHARED_DATA)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass


@pytest.fixture
def plugin():
    """Register inline plugins for one test: ``plugin(obj, name)``; all are unregistered afterwards."""
    from brainbench import register_plugin, unregister_plugin

    names: list[str] = []

    def add(obj: object, name: str) -> None:
        names.append(name)
        register_plugin(obj, name)

    try:
        yield add
    finally:
        for name in names:
            unregister_plugin(name)


@pytest.fixture
def dataset_plugin(plugin):
    """Register a Dataset class (under its card's name) and benchmark entries for one test:
    ``dataset_plugin(MyDataset, {"id": "mine.r", ...}, ...)``."""
    from brainbench import hookimpl

    def add(dataset_class: type, *benchmarks: dict) -> None:
        class DatasetPlugin:
            @hookimpl
            def register_datasets(self, register):
                register(dataset_class().card, dataset_class)

            @hookimpl
            def register_benchmarks(self, register):
                for entry in benchmarks:
                    register(entry)

        plugin(DatasetPlugin(), f"{dataset_class.__name__}-plugin")

    return add


@pytest.fixture
def fresh_plugins():
    """Reload entry points before and after a test that changes the environment or sys.path."""
    from brainbench.registry.plugin_manager import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture(scope="session")
def generator_results():
    """The generator network scored on both synthetic benchmarks (known answers)."""
    import brainbench

    return {b: brainbench.score("synthetic_generator", b, progress=False) for b in ("synthetic.early", "synthetic.late")}


@pytest.fixture(scope="session")
def postgres_server_url():
    """A throwaway PostgreSQL server for the session (tests/helpers/postgres.py); its URL. Where PostgreSQL's binaries
    are absent the test skips with the reason, unless BRAINBENCH_REQUIRE_SERVICES=1 (CI), when it fails."""
    from helpers.postgres import binaries, missing, postgres_server

    bindir, why = binaries()
    if bindir is None:
        missing(why)
    with postgres_server() as url:
        yield url


_databases = iter(range(1, 10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty results store's URL on each backend: a SQLite file in tmp_path, a new database on the session's
    PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.sqlite'}"
    from helpers.postgres import create_database

    return create_database(request.getfixturevalue("postgres_server_url"), f"bb_test_{next(_databases)}")
