"""Registries of models, datasets, metrics, tuners and benchmarks, filled from the plugin hooks.

Each kind is built once, on first use, by calling its ``register_*`` hook on every plugin with
a ``register`` callback bound to that plugin, so errors can name it; registry.toml's benchmarks
(:mod:`brainbench.registry.registry_file`) are registered first. The plugin manager tells this module
when plugins change (it subscribes at import), so the registries are built again on next use.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .cards import BenchmarkSpec, DatasetCard, ImageDistanceCard, MetricCard, ModelCard, TunerCard
from ..errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError
from ..names import matches, where_matches
from .plugin_manager import get_plugin_manager, record_failure, subscribe
from .registry_file import benchmark_spec, load_catalog

__all__ = [
    "Entry", "KINDS", "Registry", "build_all", "get_dataset", "get_image_distance", "get_metric", "get_model",
    "get_registry",
    "get_tuner", "list_entries", "refresh",
]

C = TypeVar("C")

@dataclass(frozen=True)
class Entry(Generic[C]):
    """One registered item: its card, its factory and the plugin that registered it."""

    card: C
    factory: Callable[..., Any] | None
    plugin: str

    @property
    def name(self) -> str:
        return self.card.id if isinstance(self.card, BenchmarkSpec) else self.card.name  # type: ignore[attr-defined]

def natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]

class Registry(Generic[C]):
    """Name -> :class:`Entry` for one kind, with filtered listing and helpful lookups."""

    def __init__(self, kind: str, card_type: type):
        self.kind, self.card_type = kind, card_type
        self._entries: dict[str, Entry[C]] = {}

    def add(self, card: C, factory: Callable[..., Any] | None, *, plugin: str) -> None:
        if not isinstance(card, self.card_type):
            raise PluginError(
                f"plugin {plugin!r} registered a {self.kind} with a {type(card).__name__} "
                f"where a {self.card_type.__name__} is required"
            )
        if factory is not None and not callable(factory):
            raise PluginError(f"plugin {plugin!r} registered {self.kind} with a non-callable factory {factory!r}")
        entry = Entry(card, factory, plugin)
        if entry.name in self._entries:
            other = self._entries[entry.name].plugin
            raise DuplicateNameError(
                f"{self.kind} {entry.name!r} is registered twice: by plugin {other!r} and by plugin {plugin!r}. "
                f"Rename one, or block a plugin with BRAINBENCH_DISABLE_PLUGINS={plugin}"
            )
        self._entries[entry.name] = entry

    def drop_plugin(self, plugin: str) -> None:
        self._entries = {k: e for k, e in self._entries.items() if e.plugin != plugin}

    def tagged(self, family: str) -> list[str]:
        """Registered ``family.<tag>`` names, in registration order (a source registers its default tag first)."""
        return [name for name in self._entries if name.startswith(f"{family}.")]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Entry[C]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def list(
        self,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        where: Mapping[str, str] | None = None,
    ) -> list[Entry[C]]:
        self.check_where(where or {})
        out = [
            e
            for name, e in self._entries.items()
            if matches(name, include, exclude) and where_matches(e.card.metadata(), where or {})  # type: ignore[attr-defined]
        ]
        return sorted(out, key=lambda e: natural_key(e.name))

    def fields(self) -> list[str]:
        """The metadata keys ``where`` filters can use: every field of this kind's card, and of plugins' subclasses."""
        types = {self.card_type, *(type(e.card) for e in self._entries.values())}
        return sorted({field for card_type in types for field in card_type.model_fields})

    def check_where(self, where: Mapping[str, str]) -> None:
        """Refuse filter keys no card has, which would otherwise match nothing in silence."""
        fields = self.fields()
        for key in where:
            if key not in fields:
                raise UnknownNameError(f"{self.kind} metadata field", key, fields)

    def unmatched(self, where: Mapping[str, str]) -> dict[str, list[str]]:
        """Each filter that no entry passes on its own, with the values its field takes (to explain an empty list)."""
        return {key: self.values(key) for key, pattern in where.items()
                if not any(where_matches(e.card.metadata(), {key: pattern}) for e in self._entries.values())}  # type: ignore[attr-defined]

    def values(self, key: str) -> list[str]:
        """The distinct values of one metadata field over the registered entries (list fields give their items)."""
        found: set[str] = set()
        for entry in self._entries.values():
            value = entry.card.metadata().get(key)  # type: ignore[attr-defined]
            found.update(map(str, value if isinstance(value, (list, tuple, set)) else [value] if value is not None else []))
        return sorted(found, key=natural_key)

# kind -> (hook name, card type)
KINDS: dict[str, tuple[str, type]] = {
    "model": ("register_models", ModelCard),
    "dataset": ("register_datasets", DatasetCard),
    "metric": ("register_metrics", MetricCard),
    "tuner": ("register_tuners", TunerCard),
    "image_distance": ("register_image_distances", ImageDistanceCard),
    "benchmark": ("register_benchmarks", BenchmarkSpec),
}
_cache: dict[str, Registry[Any]] = {}
_building: dict[str, Registry[Any]] = {}  # registries being built (their hooks are running), as built so far

def _build(kind: str) -> Registry[Any]:
    hook_name, card_type = KINDS[kind]
    registry: Registry[Any] = Registry(kind.replace("_", " "), card_type)
    _building[kind] = registry  # a hook that reads this kind's registry sees registry.toml and the plugins before it
    if kind == "benchmark":
        for spec in load_catalog().benchmarks.values():
            registry.add(spec, None, plugin="registry.toml")
    for impl in getattr(get_plugin_manager().hook, hook_name).get_hookimpls():
        plugin = impl.plugin_name
        if kind == "benchmark":

            def register(spec: Any, _plugin: str = plugin) -> None:
                registry.add(benchmark_spec(spec, source=f"plugin {_plugin!r}"), None, plugin=_plugin)
        else:

            def register(card: Any, factory: Callable[..., Any], _plugin: str = plugin) -> None:
                registry.add(card, factory, plugin=_plugin)

        try:
            impl.function(register=register)
        except DuplicateNameError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not break the rest
            registry.drop_plugin(plugin)
            record_failure(plugin, exc, unregister=False)
    return registry

def get_registry(kind: str) -> Registry[Any]:
    """The registry of one kind ("model", "dataset", "metric", "tuner", "benchmark").

    Asked from a plugin's register hook of the same kind (a benchmark derived from a declared one, a dataset
    reading another's card), it is the registry as built so far: registry.toml's benchmarks, then the plugins
    whose hooks ran before (entry points in load order, then in-process plugins), never a recursive rebuild."""
    if kind not in KINDS:
        raise UnknownNameError("kind", kind, KINDS)
    if kind in _building:  # asked from a register hook of this kind: what is registered so far
        return _building[kind]
    if kind not in _cache:
        try:
            _cache[kind] = _build(kind)
        finally:
            _building.pop(kind, None)
    return _cache[kind]

def build_all() -> None:
    for kind in KINDS:
        get_registry(kind)

def list_entries(kind: str, include: Any = None, exclude: Any = None, where: Mapping[str, str] | None = None) -> list[Entry[Any]]:
    return get_registry(kind).list(include, exclude, where)

def refresh() -> None:
    """Drop the built registries (after plugins changed)."""
    _cache.clear()


def _on_plugins(event: str) -> None:
    """The plugin manager's news: plugins ``"changed"`` (drop the registries), or it is about to ``"report"``
    (build every registry, so hook-time failures are part of the report)."""
    if event == "changed":
        refresh()
    elif event == "report":
        build_all()


subscribe(_on_plugins)



def _checked(kind: str, entry: Entry[Any], obj: Any, base: str) -> Any:
    from . import contracts

    if not isinstance(obj, getattr(contracts, base)):
        raise PluginError(
            f"{kind} {entry.name!r} from plugin {entry.plugin!r}: its factory returned {type(obj).__name__}, "
            f"not a brainbench.{base}"
        )
    return obj


def get_model(name: str, *, weights: str | None = None, seed: int = 0) -> Any:
    """Build a registered model; ``family.weights`` (``resnet18.imagenet1k_v1``) picks weights by name,
    and a family registered only with tags (``timm-resnet50``) builds its first registered (default) tag.

    ``package.module:factory`` builds a model that no plugin registers: ``factory(weights=..., seed=...)``
    (or ``factory()``) must return a :class:`brainbench.Model`, e.g. from :func:`brainbench.wrap`.

    ``seed`` (for random weights) must lie in 0..2**32-1 (ConfigError); an unknown name or weights tag is an
    UnknownNameError listing what exists; a factory module that fails to import, or a factory that raises, is a
    BrainbenchError naming it and the exception.
    """
    from ..checks import check_seed
    from ..names import parse_name

    check_seed(seed)
    if ":" in name:
        return _from_factory(name, weights=weights, seed=seed)
    registry = get_registry("model")
    if name not in registry:
        family, variant = parse_name(name)
        if variant and family in registry and weights is None:
            name, weights = family, variant
        elif not variant and registry.tagged(name):
            name = registry.tagged(name)[0]
    entry = registry.get(name)
    return _checked("model", entry, entry.factory(weights=weights, seed=seed), "Model")  # type: ignore[misc]


def _from_factory(spec: str, *, weights: str | None, seed: int) -> Any:
    import importlib
    import inspect

    from .contracts import Model
    from ..errors import BrainbenchError

    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:  # as `python -m` does: the user's own folder is importable
        sys.path.insert(0, os.getcwd())
    if not module_name or not attr:
        raise ConfigError(f"model {spec!r} is not package.module:factory, e.g. mylab.models:make_net")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing is not None and (module_name == missing or module_name.startswith(f"{missing}.")):
            raise BrainbenchError(f"cannot import {module_name!r} for model {spec!r}: there is no such module in the "
                                  "current folder, on PYTHONPATH or installed") from None
        raise BrainbenchError(f"{module_name!r} (for model {spec!r}) was found but failed to import: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the user's module raised while it was imported
        raise BrainbenchError(f"{module_name!r} (for model {spec!r}) was found but failed to import: "
                              f"{type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        callables = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise UnknownNameError(f"factory in {module_name}", attr, callables)
    params = inspect.signature(factory).parameters
    if weights is not None and "weights" not in params:
        raise ConfigError(f"{spec} takes no weights argument, so --weights {weights} cannot choose its weights; leave "
                          "--weights out, or give the factory a weights parameter")
    kwargs = {k: v for k, v in (("weights", weights), ("seed", seed)) if k in params}
    try:
        model = factory(**kwargs)
    except BrainbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's factory raised: say which, and what
        raise BrainbenchError(f"{spec}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) raised "
                              f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(model, Model):
        hint = " (a torch module: return brainbench.wrap(module, preprocess, name=...))" if hasattr(model, "named_modules") else ""
        raise PluginError(f"{spec} returned {type(model).__name__}, not a brainbench.Model{hint}")
    return model


def get_dataset(name: str) -> Any:
    entry = get_registry("dataset").get(name)
    return _checked("dataset", entry, entry.factory(), "Dataset")  # type: ignore[misc]


def get_metric(name: str, **options: Any) -> Any:
    from .contracts import Metric, ModelMetric

    entry = get_registry("metric").get(name)
    try:
        metric = entry.factory(**options)  # type: ignore[misc]
    except TypeError as exc:
        if not options:
            raise
        raise ConfigError(f"metric {name!r} does not take the options {sorted(options)}: {exc}") from None
    if not isinstance(metric, (Metric, ModelMetric)):
        _checked("metric", entry, metric, "Metric")
    return metric


def get_image_distance(name: str, images: Any, *, device: str | None = None) -> Any:
    """The registered image distance ``name`` over ``images`` (a float tensor ``(n, 3, height, width)`` in [0, 1]):
    a :class:`brainbench.ImageDistance`. An unknown name is an UnknownNameError listing the registered ones
    (``brainbench list image-distances``)."""
    entry = get_registry("image_distance").get(name)
    return _checked("image distance", entry, entry.factory(images, device=device), "ImageDistance")  # type: ignore[misc]


def get_tuner(name: str, **config: Any) -> Any:
    entry = get_registry("tuner").get(name)
    return _checked("tuner", entry, entry.factory(**config), "Tuner")  # type: ignore[misc]
