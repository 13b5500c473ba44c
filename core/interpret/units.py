"""Each unit's top-k probe images (its maximally exciting images, MEIs), through the extraction engine.

The layer's features come from :func:`brainbench.extract` (so the activation cache, the device choice and the
memory limit apply; the engine keeps them in a memory-mapped file, not in RAM) and are read back in batches of
``batch_size`` stimuli into :class:`~brainbench.interpret.topk.TopK`, so no (probe x unit) matrix is held in
memory. A unit is:

- for a convolutional layer (per-stimulus output ``(channels, height, width)``), a channel, read out as the
  spatial mean of its map (``readout="mean"``, the default) or its value at the centre position
  ``(height // 2, width // 2)`` (``readout="centre"``), or every position of every channel (``readout="all"``);
- for any other layer, one of its flattened outputs (``readout`` is then ``"n/a"``).

Which units: all of them (default), the given indices (``units``), or a seeded sample of ``n_units`` without
replacement (``numpy.random.default_rng(seed)``), in ascending order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_count, check_seed
from ..errors import ConfigError
from .topk import TopK

__all__ = ["READOUTS", "UnitTopImages", "unit_top_images"]

READOUTS = ("mean", "centre", "all")


@dataclass(frozen=True)
class UnitTopImages:
    """``values`` and ``indices`` ``(units, k)``, best first; ``stimulus_ids`` the same as the stimulus set's ids
    (strings as written); ``units`` the unit indices under ``readout`` (channels for "mean"/"centre")."""

    model: str
    layer: str
    readout: str
    units: np.ndarray
    values: np.ndarray
    indices: np.ndarray
    stimulus_ids: list[list[str]]


def unit_top_images(model: Any, stimuli: Any, layer: str, k: int, *, readout: str = "mean",
                    units: Sequence[int] | None = None, n_units: int | None = None, seed: int = 0,
                    batch_size: int = 256, progress: bool = False, **options: Any) -> UnitTopImages:
    """The top-``k`` stimuli of each selected unit of ``layer`` (module docstring). ``options`` are extraction
    options (:class:`~brainbench.ExtractionOptions`: memory limit, device, cache, ...; a reduction is refused, since
    units must be the layer's own). Raises :class:`~brainbench.errors.ConfigError` for k < 1 or larger than the
    probe set, an unknown readout, a unit index out of range (naming the layer's size), both ``units`` and
    ``n_units``, or ``reduce``; :class:`~brainbench.errors.UnknownNameError` for a layer the model does not have."""
    from ..extraction.plan import plan_extraction
    from ..extraction.run import extract

    k = check_count(k, "k (images per unit)")
    if readout not in READOUTS:
        raise ConfigError(f"readout {readout!r} is not one of {', '.join(READOUTS)}")
    if options.get("reduce") not in (None, "none"):
        raise ConfigError(f"reduce={options['reduce']!r}: a unit's top images need the layer's own units; leave "
                          "the reduction out")
    if len(stimuli) < k:
        raise ConfigError(f"the probe set has {len(stimuli)} stimuli, fewer than k = {k} images per unit; use a "
                          f"larger probe set or a smaller k")
    plan = plan_extraction(model, stimuli, [layer], **options)
    shape = tuple(plan.layers[0].info.shape)
    spatial = len(shape) == 3 and readout != "all"
    size = shape[0] if spatial else int(np.prod(shape))
    chosen = _choose_units(size, units, n_units, seed, layer, "channels" if spatial else "units")
    features = extract(model, stimuli, [layer], progress=progress, **options)[plan.layers[0].name]
    selector = TopK(k)
    data = features.data
    for start in range(0, data.shape[0], check_count(batch_size, "batch size")):
        batch = np.asarray(data[start:start + batch_size], dtype=np.float64)
        if spatial:
            maps = batch.reshape(len(batch), *shape)
            batch = maps.mean(axis=(2, 3)) if readout == "mean" else maps[:, :, shape[1] // 2, shape[2] // 2]
        selector.update(batch[:, chosen])
    values, indices = selector.result()
    ids = [str(s) for s in features["stimulus_id"].values]
    return UnitTopImages(model=str(features.attrs.get("model", "")), layer=plan.layers[0].name,
                         readout=readout if len(shape) == 3 else "n/a", units=chosen, values=values, indices=indices,
                         stimulus_ids=[[ids[i] for i in row] for row in indices])


def _choose_units(size: int, units: Sequence[int] | None, n_units: int | None, seed: int, layer: str,
                  what: str) -> np.ndarray:
    if units is not None and n_units is not None:
        raise ConfigError("give units (indices) or n_units (a seeded sample), not both")
    if units is not None:
        chosen = np.asarray(units)
        if chosen.ndim != 1 or chosen.size == 0 or not np.issubdtype(chosen.dtype, np.integer):
            raise ConfigError(f"units must be a non-empty list of whole numbers; got {units!r}")
        bad = chosen[(chosen < 0) | (chosen >= size)]
        if bad.size:
            raise ConfigError(f"unit index {int(bad[0])} is out of range: layer {layer!r} has {size} {what} "
                              f"(indices 0 to {size - 1})")
        return chosen.astype(np.int64)
    if n_units is not None:
        n = check_count(n_units, "n_units")
        if n > size:
            raise ConfigError(f"n_units = {n} is more than layer {layer!r} has ({size} {what})")
        rng = np.random.default_rng(check_seed(seed, "unit sample seed"))
        return np.sort(rng.choice(size, size=n, replace=False)).astype(np.int64)
    return np.arange(size, dtype=np.int64)
