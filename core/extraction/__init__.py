"""Features from models: the torch model wrapper and its identity, layers, the extraction plan and run,
reductions, the activation cache, the device allocator and memory limits. Imports
:mod:`brainbench.registry`, :mod:`brainbench.data` and the base modules.

``brainbench.extraction.extract`` and the other public names of the extraction ``plan``, ``run``, ``features``
and ``provenance`` are offered here too (lazily: importing this package loads no torch).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ["options", "plan", "run", "features", "provenance"])
