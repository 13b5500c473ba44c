"""pytest plugin (entry point ``pytest11``): fixtures for brainbench plugin authors."""

from __future__ import annotations

import pytest


@pytest.fixture
def brainbench_stimuli():
    """A tiny deterministic stimulus set (12 random 32x32 RGB images)."""
    from brainbench.testing import tiny_stimulus_set

    return tiny_stimulus_set()


@pytest.fixture
def brainbench_checks():
    """The contract checks: ``brainbench_checks.check_model(model)`` and friends."""
    import brainbench.testing

    return brainbench.testing
