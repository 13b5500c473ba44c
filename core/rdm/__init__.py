"""Representational dissimilarity matrices: the RDM assembly, distances (including crossnobis), RDM
comparisons, noise ceilings, and rsatoolbox interop. Imports :mod:`brainbench.registry`,
:mod:`brainbench.data` and the base modules.

``brainbench.rdm.compare`` and the other names of :mod:`brainbench.rdm.core` are offered here too.
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ["core"])
