"""The generator network behind the synthetic benchmark as a model (``synthetic_generator``).

The network lives in the core (:mod:`brainbench.extraction.synthetic_generator`), since the ``synthetic``
dataset builds its responses from it too; this plugin registers it.
"""

from __future__ import annotations

from brainbench import hookimpl
from brainbench.extraction.synthetic_generator import build, card


@hookimpl
def register_models(register):
    register(card(), build)
