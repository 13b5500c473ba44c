"""Model factories for the regeneration tests (``tests.helpers.regen_models:NAME`` as a leaderboard's model entry,
built by get_model in the test process and in Dask worker processes alike): the synthetic generator with random
weights, one that counts the images its forward passes see, one that does not load, and one that kills its own
worker process once."""

from __future__ import annotations

import os
import signal

from brainbench.registry.entries import get_model

FORWARDED = [0]  # images through the counting model's forward passes, in this process
BROKEN_OK = "BB_TEST_BROKEN_OK"  # a path: while it does not exist, broken() raises
KILL_MARKER = "BB_TEST_KILL_MARKER"  # a path: killer() kills its process once, creating it
KILL_DB = "BB_TEST_KILL_DB"  # the results database killer() watches


def generator(weights=None, seed=0):
    return get_model("synthetic_generator", weights="random", seed=seed or 1)


def counting(weights=None, seed=0):
    model = generator(seed=5)

    def count(_module, args):
        FORWARDED[0] += len(args[0])

    model.module.register_forward_pre_hook(count)
    return model


def broken(weights=None, seed=0):
    if not os.path.exists(os.environ.get(BROKEN_OK, "/nonexistent")):
        raise RuntimeError("weights file truncated (test)")
    return generator(seed=7)


def killer(weights=None, seed=0):
    """The generator (seed 9), whose forward kills its own process (SIGKILL, as the OOM killer would) the first time
    it runs after a result of this model was stored, i.e. inside its second cell, after the first was written."""
    model = generator(seed=9)

    def kill(_module, _args):
        marker = os.environ[KILL_MARKER]
        if os.path.exists(marker):
            return
        from brainbench.results.store import ResultsStore

        if ResultsStore(os.environ[KILL_DB]).rows(model=[model.label]):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)

    model.module.register_forward_pre_hook(kill)
    return model
