"""The interpretability index as a metric plugin, and the image distances it ships with.

**Metric** ``ii`` (a :class:`~brainbench.ModelMetric`: it needs a model and probe images, no brain data): for each
layer, the mean over units of Klindt et al. 2023's II (arXiv 2310.11431), computed by
:func:`brainbench.interpret.measure.measure_interpretability` with the options the metric was built with
(``distance``, ``k``, ``readout``, ``n_units``, ``image_size``, ``baseline_sets``, ``seed``).
:meth:`InterpretabilityIndex.measure` gives the full per-unit results with their baseline.

**Image distances** (``brainbench list image-distances``), each ``factory(images, device=None)`` over a float
tensor ``(n, 3, height, width)`` in [0, 1]:

- ``lpips``: LPIPS (Zhang et al. 2018, the ``lpips`` package), AlexNet trunk, v0.1, the variant reported to track
  human judgements; the trunk is torchvision's ImageNet AlexNet from torch hub's cache (WeightsNotFoundError
  offline without it, naming the file and where it was looked for);
- ``efficientnet_lite0-perceptual``: the LPIPS recipe without its learned calibration (unit-normalised channels,
  squared differences, spatial mean; mean over four layers) over the offline ImageNet-trained ``efficientnet_lite0``'s
  ``_blocks.1``, ``_blocks.3``, ``_blocks.5`` and ``_blocks.10``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brainbench import ImageDistanceCard, MetricCard, hookimpl
from brainbench.registry.contracts import ModelMetric

NAME, VERSION = "ii", "1"
FEATURE_LAYERS = ("_blocks.1", "_blocks.3", "_blocks.5", "_blocks.10")


class InterpretabilityIndex(ModelMetric):
    """II of a model's layers on a probe stimulus set: ``metric(model, stimuli, layers) -> {layer: mean II}``."""

    card = MetricCard(name=NAME, version=VERSION, kind="model_only",
                      description="interpretability index (Klindt et al. 2023): mean similarity of each unit's top-k "
                                  "probe images, with a random-set baseline")

    def __init__(self, *, distance: str = "lpips", k: int = 9, readout: str = "mean", n_units: int | None = None,
                 image_size: int = 64, baseline_sets: int = 100, seed: int = 0):
        self.options: dict[str, Any] = dict(distance=distance, k=k, readout=readout, n_units=n_units,
                                            image_size=image_size, baseline_sets=baseline_sets, seed=seed)

    def measure(self, model: Any, stimuli: Any, layer: str, **extraction: Any) -> Any:
        """The full :class:`~brainbench.interpret.measure.InterpretabilityResult` of one layer."""
        from brainbench.interpret.measure import measure_interpretability

        return measure_interpretability(model, stimuli, layer, **self.options, **extraction)

    def __call__(self, model: Any, stimuli: Any, layers: Sequence[str]) -> Mapping[str, float]:
        return {layer: self.measure(model, stimuli, layer).mean for layer in layers}


def lpips_distance(images: Any, device: str | None = None) -> Any:
    from brainbench.errors import WeightsNotFoundError
    from brainbench.interpret.perceptual import LPIPSDistance

    try:
        return LPIPSDistance(images, device=device)
    except WeightsNotFoundError as exc:
        raise WeightsNotFoundError(f"{exc} Offline without it, measure II under the distance "
                                   "'efficientnet_lite0-perceptual' (its weights install with brainbench).") from None


def efficientnet_lite0_perceptual(images: Any, device: str | None = None) -> Any:
    from brainbench import get_model
    from brainbench.interpret.perceptual import ModelFeatureDistance

    return ModelFeatureDistance(get_model("efficientnet_lite0"), list(FEATURE_LAYERS), images, device=device)


@hookimpl
def register_metrics(register):
    register(InterpretabilityIndex.card, InterpretabilityIndex)


@hookimpl
def register_image_distances(register):
    register(ImageDistanceCard(name="lpips", version="0.1", offline_weights=False,
                               description="LPIPS, AlexNet trunk, v0.1 (needs torchvision's AlexNet weights)",
                               reference="Zhang et al. 2018, CVPR; the lpips package"), lpips_distance)
    register(ImageDistanceCard(name="efficientnet_lite0-perceptual", version="1", offline_weights=True,
                               description="uncalibrated LPIPS recipe over efficientnet_lite0 (ImageNet) blocks 1, 3, 5, "
                                           "10, mean over layers",
                               reference="Zhang et al. 2018 (recipe, lpips=False); brainbench"),
             efficientnet_lite0_perceptual)
