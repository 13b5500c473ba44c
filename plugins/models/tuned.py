"""Stored tuned models (``<data home>/tuned/<name>/`` and the folders in ``$BRAINBENCH_TUNED_PATH``), registered by
name: a tuned model saved in one process is listed and scored in any later one.

Each is registered with its stored card (source ``tuned``, ``tuned_from`` its parent, architecture, task, input size
from the parent's card as saved, weights ``["tuned"]``) and a factory that rebuilds it
(:func:`brainbench.tuning.saved.build_tuned`: the parent, its weights hash checked, the tuned state loaded and its
hash checked). Registering reads the cards only (no torch, no weights).

A broken stored model (card.json unreadable or lacking a key, weights file missing) is still registered, with
architecture ``unknown`` and its problem in the description, and its factory raises a DataFileError saying what is
wrong and how to fix it (``brainbench tune delete NAME``), so the other models are untouched and the broken one is
visible in ``brainbench list models`` and ``brainbench tune list``. A stored name that is already registered (a
built-in model, or the same name found earlier on the search path) is skipped with a
:class:`~brainbench.registry.tuning.TunedModelWarning` naming both.
"""

from __future__ import annotations

import warnings
from functools import partial

from brainbench import hookimpl
from brainbench.registry.entries import get_registry
from brainbench.registry.tuning import StoredTuned, TunedModelWarning, list_tuned


def build(stored: StoredTuned, weights: str | None = None, seed: int = 0):
    from brainbench.tuning.saved import build_tuned

    return build_tuned(stored, weights=weights, seed=seed)


@hookimpl
def register_models(register):
    registry = get_registry("model")  # as built so far: the plugins before this one
    first: dict[str, StoredTuned] = {}
    for stored in list_tuned():
        name = stored.name
        if name in first:
            warnings.warn(f"tuned model {name!r} in {stored.folder} is not registered: {first[name].folder} holds a "
                          "tuned model of the same name earlier on the search path; rename or delete one",
                          TunedModelWarning, stacklevel=2)
            continue
        if name in registry:
            warnings.warn(f"tuned model {name!r} in {stored.folder} is not registered: {name!r} is already a model "
                          f"of plugin {registry.get(name).plugin!r}; rename its folder (and the name in its card.json)",
                          TunedModelWarning, stacklevel=2)
            continue
        first[name] = stored
        register(stored.model_card(), partial(build, stored))
