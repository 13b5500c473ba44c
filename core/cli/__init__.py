"""The ``brainbench`` command line, a thin layer over the Python API. Imports anything in the core.

``brainbench.cli.main`` (the console script) is offered here.
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ["commands"])
