"""The interpretability index of a layer's units, end to end (Klindt et al. 2023, arXiv 2310.11431).

:func:`measure_interpretability` takes each selected unit's top-k probe images (:func:`~.units.unit_top_images`,
through the extraction engine), their II over distinct pairs under an image distance (:mod:`.index`), and the
baseline of the same statistic over random k-image sets of the same probe set, and returns them together
(:class:`InterpretabilityResult`): per-unit II and mean distance, their mean and sd over units, and each unit's II
normalised against the baseline.

The distance is ``"lpips"`` (:class:`~.perceptual.LPIPSDistance`: AlexNet, v0.1; its trunk must be in torch hub's
cache offline), ``"efficientnet_lite0"`` (:class:`~.perceptual.ModelFeatureDistance` over
``efficientnet_lite0``'s ``_blocks.1``, ``_blocks.3``, ``_blocks.5``, ``_blocks.10``: offline ImageNet weights),
or any callable ``distance(a, b)`` over index arrays into the probe set with a ``name`` attribute. Images reach the
distance as ``image_size`` x ``image_size`` RGB in [0, 1] (the probe images resized, whatever the scored model's own
preprocessing is). II's scale follows the distance's: LPIPS distances are mostly below 1, the feature distance
sums four layers of values in [0, 4], so its II is often negative; compare models and layers under one distance,
or through the normalised index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_count
from ..errors import ConfigError
from .index import Baseline, interpretability_index, random_set_baseline
from .units import UnitTopImages, unit_top_images

__all__ = ["DISTANCES", "InterpretabilityResult", "measure_interpretability", "probe_images"]

DISTANCES = ("lpips", "efficientnet_lite0")
FEATURE_LAYERS = ("_blocks.1", "_blocks.3", "_blocks.5", "_blocks.10")


@dataclass(frozen=True)
class InterpretabilityResult:
    """II of the units of one layer: ``ii`` and ``mean_distance`` ``(units,)`` (II = 1 - mean distance over the
    k(k-1)/2 distinct pairs of each unit's top images), the random-set ``baseline`` and ``normalised`` II (in the
    baseline's sds), with the ``top`` images they were computed from."""

    distance: str
    k: int
    top: UnitTopImages
    ii: np.ndarray
    mean_distance: np.ndarray
    baseline: Baseline
    normalised: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.ii.mean())

    @property
    def sd(self) -> float:
        return float(self.ii.std(ddof=1)) if self.ii.size > 1 else 0.0

    def summary(self) -> str:
        return (f"{self.top.model} {self.top.layer} ({self.top.readout} readout, {self.ii.size} units, k = {self.k}, "
                f"{self.distance}): II {self.mean:.4f} ± {self.sd:.4f} (sd over units); random-set baseline "
                f"{self.baseline.mean:.4f} ± {self.baseline.sd:.4f} ({self.baseline.values.size} sets); normalised "
                f"{float(self.normalised.mean()):+.2f} baseline sds")


def probe_images(stimuli: Any, size: int = 64) -> Any:
    """The stimulus set's images as a float32 tensor ``(n, 3, size, size)`` in [0, 1] (RGB, bilinear resize), in
    the set's order."""
    import torch
    from PIL import Image

    size = check_count(size, "image size", minimum=8)
    arrays = [np.asarray(stimuli.image(s).convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
              for s in stimuli.ids]
    return torch.from_numpy(np.stack(arrays) / 255).permute(0, 3, 1, 2).contiguous()


def _distance(distance: str | Callable[..., Any], stimuli: Any, image_size: int,
              device: str | None) -> tuple[Callable[..., Any], str]:
    """The distance and its name; the probe images are read (and resized) only for the built-in distances."""
    if callable(distance):
        return distance, str(getattr(distance, "name", getattr(distance, "__name__", "custom distance")))
    images = probe_images(stimuli, image_size)
    if distance == "lpips":
        from .perceptual import LPIPSDistance

        return LPIPSDistance(images, device=device), "LPIPS (AlexNet, v0.1)"
    from ..registry.entries import get_model
    from .perceptual import ModelFeatureDistance

    measured = ModelFeatureDistance(get_model("efficientnet_lite0"), list(FEATURE_LAYERS), images, device=device)
    return measured, measured.name


def measure_interpretability(model: Any, stimuli: Any, layer: str, *, k: int = 9,
                             distance: str | Callable[..., Any] = "lpips", image_size: int = 64,
                             baseline_sets: int = 100, seed: int = 0, readout: str = "mean",
                             units: Sequence[int] | None = None, n_units: int | None = None,
                             device: str | None = None, progress: bool = False,
                             **options: Any) -> InterpretabilityResult:
    """II of ``layer``'s units of ``model`` (a brainbench Model) on the probe ``stimuli`` (module docstring).
    ``readout``, ``units``, ``n_units`` and ``seed`` select units (:func:`~.units.unit_top_images`); ``seed`` also
    draws the baseline's ``baseline_sets`` random sets; ``options`` are extraction options. Errors: those of
    :func:`~.units.unit_top_images`, k < 2, an unknown distance, LPIPS' trunk missing offline."""
    k = check_count(k, "k (images per unit)", minimum=2, hint="II compares pairs of a unit's images")
    if not callable(distance) and distance not in DISTANCES:  # before any extraction
        raise ConfigError(f"distance {distance!r} is not one of {', '.join(DISTANCES)} or a callable distance(a, b)")
    top = unit_top_images(model, stimuli, layer, k, readout=readout, units=units, n_units=n_units, seed=seed,
                          progress=progress, device=device, **options)
    measured, name = _distance(distance, stimuli, image_size, device)
    ii, mean_distance = interpretability_index(top.indices, measured)
    baseline = random_set_baseline(len(stimuli), k, measured, n_sets=baseline_sets, seed=seed)
    return InterpretabilityResult(distance=name, k=k, top=top, ii=ii, mean_distance=mean_distance, baseline=baseline,
                                  normalised=baseline.normalise(ii))
