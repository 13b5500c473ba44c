"""Hand results to the tools researchers already use: brainbench RDMs <-> rsatoolbox ``RDMs``.

rsatoolbox is an optional extra (``pip install brainbench[compare]``); with it, its inference
(bootstrap over stimuli and subjects, model comparison) and its plots apply to brainbench's RDMs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .rdms import RDM_DIMS, rdm_assembly, upper_triangle

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["from_rsatoolbox", "to_rsatoolbox"]


def _rsatoolbox() -> Any:
    try:
        import rsatoolbox
    except ImportError:
        raise ConfigError("converting RDMs needs rsatoolbox, an optional extra: pip install 'brainbench[compare]'") from None
    return rsatoolbox


def to_rsatoolbox(assembly: xr.DataArray) -> Any:
    """An rsatoolbox ``RDMs`` with one RDM per ``rdm`` entry (its coords become rdm descriptors) and the
    stimulus ids as the ``stimulus_id`` pattern descriptor."""
    rsatoolbox = _rsatoolbox()
    if tuple(assembly.dims) != RDM_DIMS:
        raise ConfigError(f"to_rsatoolbox takes an RDM assembly with dims {RDM_DIMS}; got {tuple(assembly.dims)} "
                          "(for responses, build RDMs first with brainbench.rdm.distances.rdms_of_responses)")
    descriptors = {k: list(v.values) for k, v in assembly.coords.items() if v.dims == ("rdm",)}
    return rsatoolbox.rdm.RDMs(
        upper_triangle(np.asarray(assembly.values)),
        dissimilarity_measure=assembly.attrs.get("distance"),
        rdm_descriptors=descriptors,
        pattern_descriptors={"stimulus_id": [str(s) for s in assembly["stimulus_id"].values]},
    )


def from_rsatoolbox(rdms: Any, *, region: str | None = None) -> xr.DataArray:
    """A brainbench RDM assembly from rsatoolbox ``RDMs``: stimulus ids from the ``stimulus_id`` pattern
    descriptor (else ``index``), subjects from the ``subject`` rdm descriptor (else one per RDM), and the
    region from ``region`` or the ``region`` rdm descriptor."""
    patterns, described = rdms.pattern_descriptors, rdms.rdm_descriptors
    ids = patterns.get("stimulus_id", patterns.get("index"))
    n = rdms.n_rdm
    subjects = described.get("subject", [f"rdm{i}" for i in range(n)])
    regions = region or described.get("region")
    if regions is None:
        raise ConfigError("the RDMs carry no 'region' descriptor; pass region=... to from_rsatoolbox")
    extra = {k: v for k, v in described.items() if k not in ("subject", "region", "index") and len(v) == n}
    attrs = {"distance": rdms.dissimilarity_measure} if rdms.dissimilarity_measure else {}
    return rdm_assembly(rdms.get_vectors(), stimulus_id=ids, subject=subjects, region=regions, rdm_coords=extra,
                        attrs=attrs)
