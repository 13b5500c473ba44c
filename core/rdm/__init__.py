"""Representational dissimilarity matrices: the RDM assembly, distances (including crossnobis), RDM
comparisons, noise ceilings, and rsatoolbox interop. Imports :mod:`brainbench.registry`,
:mod:`brainbench.data` and the base modules.

The split rsatoolbox uses: ``rdms`` (the container), ``distances``, ``comparisons``, ``ceilings`` (noise
ceilings), ``interop``. ``brainbench.rdm.compare`` and the other public names of the first four are offered here
too (lazily).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ["rdms", "distances", "comparisons", "ceilings"])
