"""The interpretability index of a layer's units, end to end (Klindt et al. 2023, arXiv 2310.11431).

:func:`measure_interpretability` takes each selected unit's top-k probe images (:func:`~.units.unit_top_images`,
through the extraction engine), their II over distinct pairs under an image distance (:mod:`.index`), and the
baseline of the same statistic over random k-image sets of the same probe set, and returns them together
(:class:`InterpretabilityResult`): per-unit II and mean distance, their mean and sd over units, and each unit's II
normalised against the baseline.

The distance is a registered image distance (``brainbench list image-distances``; third parties add theirs with
the ``register_image_distances`` hook): ``"lpips"`` (:class:`~.perceptual.LPIPSDistance`: AlexNet, v0.1; its trunk
must be in torch hub's cache offline) or ``"efficientnet_lite0-perceptual"`` (:class:`~.perceptual.ModelFeatureDistance`
over ``efficientnet_lite0``'s ``_blocks.1``, ``_blocks.3``, ``_blocks.5``, ``_blocks.10``: offline ImageNet weights),
or an :class:`~brainbench.ImageDistance` / any callable ``distance(a, b)`` over index arrays into the probe set with a
``name`` attribute. Images reach the distance as ``image_size`` x ``image_size`` RGB in [0, 1] (the probe images
resized, whatever the scored model's own preprocessing is). II's scale follows the distance's: compare models and
layers under one distance, or through the normalised index.

:meth:`InterpretabilityResult.record` is what the results store keeps
(:class:`~brainbench.results.interpretability.InterpretabilityRecord`, with its provenance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import datetime as dt

import numpy as np

from .._version import __version__
from ..checks import check_count
from ..device import pick_device
from ..errors import ConfigError
from ..results.interpretability import InterpretabilityProvenance
from .index import Baseline, interpretability_index, random_set_baseline
from .units import UnitTopImages, unit_top_images

__all__ = ["InterpretabilityResult", "measure_interpretability", "probe_images"]


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
    provenance: Any = None  # InterpretabilityProvenance; None for results built by hand

    def record(self) -> Any:
        """The :class:`~brainbench.results.interpretability.InterpretabilityRecord` the results store keeps. Raises
        ConfigError for a result without provenance (built by hand rather than by :func:`measure_interpretability`)."""
        from ..results.interpretability import InterpretabilityRecord

        if self.provenance is None:
            raise ConfigError("this II result has no provenance (it was not made by measure_interpretability), so it "
                              "cannot be stored")
        return InterpretabilityRecord(
            model=self.top.model, layer=self.top.layer, units=[int(u) for u in self.top.units],
            ii=[float(v) for v in self.ii], mean_distance=[float(v) for v in self.mean_distance],
            normalised=[float(v) for v in self.normalised], top_images=[list(ids) for ids in self.top.stimulus_ids],
            top_values=[[float(v) for v in row] for row in self.top.values],
            baseline=[float(v) for v in self.baseline.values], provenance=self.provenance)

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
              device: str | None) -> tuple[Callable[..., Any], str, str, str]:
    """The distance, its registered name (or the callable's), what it is, and its version; the probe images are
    read (and resized) only for registered distances."""
    if callable(distance):
        name = str(getattr(distance, "name", getattr(distance, "__name__", "custom distance")))
        return distance, name, name, str(getattr(distance, "version", "unversioned"))
    from ..registry.entries import get_image_distance, get_registry

    card = get_registry("image_distance").get(distance).card
    measured = get_image_distance(distance, probe_images(stimuli, image_size), device=device)
    return measured, distance, str(getattr(measured, "name", distance)), card.version


def measure_interpretability(model: Any, stimuli: Any, layer: str, *, k: int = 9,
                             distance: str | Callable[..., Any] = "lpips", image_size: int = 64,
                             baseline_sets: int = 100, seed: int = 0, readout: str = "mean",
                             units: Sequence[int] | None = None, n_units: int | None = None,
                             device: str | None = None, progress: bool = False,
                             **options: Any) -> InterpretabilityResult:
    """II of ``layer``'s units of ``model`` (a brainbench Model) on the probe ``stimuli`` (module docstring).
    ``readout``, ``units``, ``n_units`` and ``seed`` select units (:func:`~.units.unit_top_images`); ``seed`` also
    draws the baseline's ``baseline_sets`` random sets; ``options`` are extraction options. Errors: those of
    :func:`~.units.unit_top_images`, k < 2, an unknown distance (UnknownNameError listing the registered ones, before
    any extraction), LPIPS' trunk missing offline (WeightsNotFoundError)."""
    k = check_count(k, "k (images per unit)", minimum=2, hint="II compares pairs of a unit's images")
    if not callable(distance):  # an unknown name fails here, before any extraction
        from ..registry.entries import get_registry

        get_registry("image_distance").get(distance)
    top = unit_top_images(model, stimuli, layer, k, readout=readout, units=units, n_units=n_units, seed=seed,
                          progress=progress, device=device, **options)
    measured, key, name, version = _distance(distance, stimuli, image_size, device)
    ii, mean_distance = interpretability_index(top.indices, measured)
    baseline = random_set_baseline(len(stimuli), k, measured, n_sets=baseline_sets, seed=seed)
    identity = model.identity()
    provenance = InterpretabilityProvenance(
        model=top.model, weights=str(model.weights), weights_hash=identity["weights_hash"], code=identity["code"],
        probe=str(stimuli.identifier), probe_hash=stimuli.content_hash(), n_probe=len(stimuli), distance=key,
        distance_name=name, distance_version=version, image_size=image_size, k=k, readout=top.readout,
        unit_selection="given" if units is not None else f"sample of {n_units} (seed {seed})" if n_units else "all",
        seed=seed, baseline_sets=baseline_sets, brainbench_version=__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), device=str(pick_device(device)))
    return InterpretabilityResult(distance=name, k=k, top=top, ii=ii, mean_distance=mean_distance, baseline=baseline,
                                  normalised=baseline.normalise(ii), provenance=provenance)
