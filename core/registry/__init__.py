"""What exists: the hook specification, the plugin manager, the registry of models, datasets, metrics, tuners
and benchmarks, their cards and behaviour contracts, the benchmark catalog (registry.toml) and the user's
imported datasets. Imports :mod:`brainbench.data` and the base modules.

``brainbench.registry.get_model`` and the other names of :mod:`brainbench.registry.entries` and
:mod:`brainbench.registry.catalog` (``describe_benchmark``, ``get_benchmark``) are offered here too (lazily),
as they were when this was one module.
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ["entries", "catalog"])
