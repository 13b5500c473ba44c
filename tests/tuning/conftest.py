"""Shared fixtures of the tuning tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A data home of its own (the tuned models saved here are this test's only) and no extra tuned folders; the
    registries forget them afterwards."""
    from brainbench.registry import tuning
    from brainbench.registry.entries import refresh

    home = tmp_path / "home"
    monkeypatch.setenv("BRAINBENCH_HOME", str(home))
    monkeypatch.delenv(tuning.TUNED_PATH_ENV, raising=False)
    monkeypatch.setattr(tuning, "_saved_here", [])
    refresh()
    yield home
    refresh()
