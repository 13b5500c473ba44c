"""The whole discovery contract: what a plugin may register.

A plugin is a module (or object) with ``@hookimpl`` functions, found through the
``brainbench`` entry-point group. Each hook is called once, lazily, the first time
brainbench needs that kind of thing, with a ``register`` callback:

    from brainbench import hookimpl, ModelCard

    @hookimpl
    def register_models(register):
        register(ModelCard(name="mynet", source="mylab", architecture="cnn"), make_mynet)

Hooks say *what exists*; the ABCs in :mod:`brainbench.registry.contracts` say *what it does*.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from .cards import BenchmarkSpec, DatasetCard, ImageDistanceCard, MetricCard, ModelCard, TunerCard

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("brainbench")
hookimpl = pluggy.HookimplMarker("brainbench")


class RegisterModel(Protocol):
    def __call__(self, card: ModelCard, factory: Callable[..., Any]) -> None: ...


class RegisterDataset(Protocol):
    def __call__(self, card: DatasetCard, factory: Callable[..., Any]) -> None: ...


class RegisterMetric(Protocol):
    def __call__(self, card: MetricCard, factory: Callable[..., Any]) -> None: ...


class RegisterTuner(Protocol):
    def __call__(self, card: TunerCard, factory: Callable[..., Any]) -> None: ...


class RegisterImageDistance(Protocol):
    def __call__(self, card: ImageDistanceCard, factory: Callable[..., Any]) -> None: ...


class RegisterBenchmark(Protocol):
    def __call__(self, spec: BenchmarkSpec | dict[str, Any]) -> None: ...


@hookspec
def register_models(register: RegisterModel) -> None:
    """Register model factories: ``register(card, factory)``.

    ``factory(weights: str | None = None, seed: int = 0) -> brainbench.Model``;
    ``weights=None`` means the card's first (default) weights, ``"random"`` a seeded
    random initialisation.
    """


@hookspec
def register_datasets(register: RegisterDataset) -> None:
    """Register dataset factories: ``register(card, factory)``; ``factory() -> brainbench.Dataset``."""


@hookspec
def register_metrics(register: RegisterMetric) -> None:
    """Register metrics: ``register(card, factory)``; ``factory(**options) -> brainbench.Metric``."""


@hookspec
def register_tuners(register: RegisterTuner) -> None:
    """Register tuners: ``register(card, factory)``; ``factory(**config) -> brainbench.Tuner``."""


@hookspec
def register_image_distances(register: RegisterImageDistance) -> None:
    """Register image distances (the interpretability index's similarity functions): ``register(card, factory)``;
    ``factory(images, device=None) -> brainbench.ImageDistance`` over ``images``, a float tensor
    ``(n, 3, height, width)`` of RGB values in [0, 1]."""


@hookspec
def register_benchmarks(register: RegisterBenchmark) -> None:
    """Contribute benchmarks without editing registry.toml: ``register(spec)``.

    ``spec`` is a :class:`~brainbench.registry.cards.BenchmarkSpec` or a dict with the same keys as a
    ``[benchmarks."<id>"]`` table of registry.toml (plus ``id``); it is validated the same way.
    """
