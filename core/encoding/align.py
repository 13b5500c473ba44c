"""The one step every encoding metric runs before its kernel (the thin wrapper xskillscore puts around each
kernel): the features aligned to the target's stimuli by id (:func:`~brainbench.data.assembly.align_features`:
missing stimuli and NaN features are errors naming them), the device and dtype picked once, and both turned
into torch tensors there.

    data = metric_tensors(features, target, device=self.device, dtype="float64")
    data.X  # (presentation, feature) features in ``features_dtype``, rows in the target's stimulus order
    data.Y  # (presentation, neuroid) responses in ``data.dtype``

The dtype rule: MPS has no float64, so ``float64`` becomes ``float32`` there (ridge's float32 scores are within
5e-3 of float64's); on the CPU and CUDA the dtype is the one asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..checks import check_choice
from ..data.assembly import align_features

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = ["DTYPES", "MetricTensors", "metric_dtype", "metric_tensors"]

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class MetricTensors:
    """A target and the features aligned to it, as tensors on one device."""

    X: torch.Tensor  # (presentation, feature), in the features dtype asked for
    Y: torch.Tensor  # (presentation, neuroid), in ``dtype``
    device: str  # as pick_device chose it: "cpu", "cuda", "cuda:1", "mps"
    dtype: torch.dtype  # the dtype the metric computes in (float32 on MPS)


def metric_dtype(device: str, dtype: str = "float64") -> torch.dtype:
    """The torch dtype a metric computes in on ``device``: ``dtype`` ("float64" or "float32", else ConfigError),
    float32 on MPS, which has no float64."""
    import torch

    check_choice(dtype, "metric dtype", DTYPES)
    return torch.float32 if device.startswith("mps") else getattr(torch, dtype)


def metric_tensors(features: xr.DataArray, target: xr.DataArray, *, device: str | None = None,
                   dtype: str = "float64", features_dtype: str = "float32") -> MetricTensors:
    """``features`` (presentation x ...) aligned to ``target``'s ``stimulus_id`` order and flattened to
    (presentation, feature) as a ``features_dtype`` tensor (float32: as extraction stores them; on MPS float64 is
    float32 too), and ``target``'s values as a :func:`metric_dtype` tensor, both on :func:`~brainbench.device.pick_device`
    ``(device)``. Raises AssemblyError for stimuli without features or non-finite features, ConfigError for an
    unknown device or dtype."""
    import torch

    from ..device import pick_device

    chosen = pick_device(device)
    compute = metric_dtype(chosen, dtype)
    rows = align_features(features, target["stimulus_id"].values)
    staged = np.ascontiguousarray(rows.reshape(len(rows), -1), dtype=np.dtype(features_dtype))
    X = torch.from_numpy(staged).to(chosen, metric_dtype(chosen, features_dtype))
    Y = torch.from_numpy(np.asarray(target.values, dtype=np.float64)).to(chosen, compute)
    return MetricTensors(X, Y, chosen, compute)
