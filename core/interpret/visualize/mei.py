"""Maximally exciting probe images of any objective: a unit, a channel, a direction, or an encoding-model voxel.

:func:`objective_top_images` reads the objective's layer over a probe set through the extraction engine (its cache,
device choice and memory budget), evaluates the objective on each stimulus's activation exactly as feature
visualisation does (:mod:`.objectives`, :class:`~.voxel.Voxel`), and keeps the ``k`` stimuli with the largest
values in one streamed pass (:class:`~brainbench.interpret.topk.TopK`, ties to the earlier stimulus), ready for
:func:`~brainbench.interpret.grid.mei_grid`. For a voxel these are the images the fitted encoding model predicts the
neuroid responds to most: next to the optimised image, what it says that part of the brain wants to see.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...checks import check_count
from ...errors import ConfigError
from ..topk import TopK
from ..units import UnitTopImages

__all__ = ["objective_top_images"]


def objective_top_images(model: Any, objective: Any, stimuli: Any, k: int, *, batch_size: int = 256,
                         progress: bool = False, **options: Any) -> UnitTopImages:
    """The top-``k`` stimuli of ``stimuli`` under ``objective`` (module docstring), as one row of
    :class:`~brainbench.interpret.units.UnitTopImages` (``readout`` names the objective). ``options`` are extraction
    options. Raises ConfigError for k < 1 or larger than the probe set, and the objective's own checks (an index out
    of the layer's range, a readout fitted on another layer's size)."""
    import torch

    from ...extraction.plan import plan_extraction
    from ...extraction.run import extract
    from .objectives import resolve_layer

    k = check_count(k, "k (images)")
    if len(stimuli) < k:
        raise ConfigError(f"the probe set has {len(stimuli)} stimuli, fewer than k = {k}; use a larger probe set or "
                          "a smaller k")
    plan = plan_extraction(model, stimuli, [objective.layer], **options)
    info = resolve_layer(model, plan.layers[0].name, str(plan.device))
    objective = objective.check(info)
    shape = tuple(plan.layers[0].info.shape)
    features = extract(model, stimuli, [objective.layer], progress=progress, **options)[plan.layers[0].name]
    selector = TopK(k)
    data = features.data
    for start in range(0, data.shape[0], check_count(batch_size, "batch size")):
        act = torch.from_numpy(np.asarray(data[start:start + batch_size], dtype=np.float64).reshape(-1, *shape))
        with torch.no_grad():
            selector.update(objective(act).reshape(-1, 1).numpy())
    values, indices = selector.result()
    ids = [str(s) for s in features["stimulus_id"].values]
    described = objective.describe()
    what = {"unit": lambda d: f"unit {d['unit']} at {d['position']}", "channel": lambda d: f"channel {d['channel']}",
            "direction": lambda d: "direction", "voxel": lambda d: f"voxel {d['benchmark']}:{d['neuroid']}"}
    return UnitTopImages(model=str(features.attrs.get("model", "")), layer=plan.layers[0].name,
                         readout=what[described["objective"]](described), units=np.array([0]), values=values,
                         indices=indices, stimulus_ids=[[ids[i] for i in row] for row in indices])
