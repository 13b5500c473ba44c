"""The lazy feature mapping an extraction returns: layer -> ``(presentation, neuroid)`` DataArray, each layer read
(memory-mapped where it lies on disk) only when asked for."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnknownNameError

if TYPE_CHECKING:
    import xarray as xr

    from .plan import ExtractionPlan

__all__ = ["Features"]


class Features(Mapping[str, "xr.DataArray"]):
    """Layer -> feature assembly, loaded (memory-mapped where on disk) when accessed."""

    def __init__(self, plan: ExtractionPlan, ids: list[str], arrays: dict[str, Any], attrs: dict[str, Any],
                 workdir: tempfile.TemporaryDirectory | None = None):
        self.plan, self.ids, self._arrays, self._attrs = plan, ids, arrays, attrs
        self._by_name = {p.name: p for p in plan.layers}
        self._workdir = workdir  # kept alive as long as the features are

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def same_as(self, layer: str) -> str | None:
        """The requested layer whose features ``layer`` repeats, if any."""
        source = self._by_name[layer].info.same_as
        return source if source in self._by_name else None

    def __getitem__(self, layer: str) -> xr.DataArray:
        import xarray as xr

        if layer not in self._by_name:
            raise UnknownNameError("layer of these features", layer, self._by_name)
        p = self._by_name[layer]
        values = self._arrays[self.same_as(layer) or layer]
        coords: dict[str, Any] = {
            "stimulus_id": ("presentation", self.ids),
            "unit": ("neuroid", np.arange(p.units)),
            "layer": ("neuroid", np.full(p.units, layer, dtype=object)),
        }
        if p.tokens == "all" and p.reduction == "none":
            n_tokens, channels = p.info.shape
            coords["token"] = ("neuroid", np.repeat(np.arange(n_tokens), channels))
        attrs = {**self._attrs, "layer": layer, "depth": p.info.depth, "tokens": p.tokens,
                 "reduction": p.reduction, "same_as": p.info.same_as or ""}
        if p.sae is not None:  # an L:saeK layer: the stored SAE it was encoded with
            attrs["sae"] = json.dumps(p.sae.identity, sort_keys=True)
        return xr.DataArray(values, dims=("presentation", "neuroid"), coords=coords, attrs=attrs)
