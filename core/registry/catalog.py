"""Benchmark ids resolved against the registry (a declared benchmark, or ``<base>-<metric>`` derived from one),
and the leaderboards of registry.toml. Reading and validating registry.toml itself is
:mod:`brainbench.registry.registry_file` (its names are offered here too, as before)."""

from __future__ import annotations

from .cards import BenchmarkSpec, LeaderboardSpec
from .entries import get_registry
from ..errors import UnknownNameError
from ..names import parse_benchmark_id
from .registry_file import CATALOG_ENV, Catalog, benchmark_spec, load_catalog

__all__ = ["CATALOG_ENV", "Catalog", "benchmark_spec", "describe_benchmark", "get_benchmark", "get_leaderboard", "load_catalog", "metric_names",
           "with_metric"]


def get_benchmark(benchmark: str) -> BenchmarkSpec:
    """Resolve a benchmark id; ``<base>-<metric>`` derives from a declared base with another metric (its
    options reset, and the settings the metric's reference protocol fixes applied)."""
    registry = get_registry("benchmark")
    if benchmark in registry:
        return registry.get(benchmark).card
    known = [e.name for e in registry.list()]
    try:
        bid = parse_benchmark_id(benchmark, metric_names())
    except ValueError:
        raise UnknownNameError("benchmark", benchmark, known) from None
    if bid.metric and bid.base in registry:
        protocol = get_registry("metric").get(bid.metric).card.protocol
        base = registry.get(bid.base).card.model_dump()
        derived = {**base, "id": benchmark, "metric": bid.metric, "metric_options": {}, **protocol}
        return benchmark_spec(derived, source=f"benchmark {bid.base} with metric {bid.metric}")
    base, _, suffix = benchmark.rpartition("-")
    if base in registry:  # a declared benchmark with a suffix that names no metric
        raise UnknownNameError("metric", suffix, metric_names())
    raise UnknownNameError("benchmark", benchmark, known)


def with_metric(spec: BenchmarkSpec, metric: str) -> BenchmarkSpec:
    """``spec`` scored by ``metric``, which is another benchmark: the declared base when it uses ``metric``
    (``majajhong2015.V4-pls`` with ridge is ``majajhong2015.V4``), else ``<base>-<metric>``."""
    if metric == spec.metric:
        return spec
    base = parse_benchmark_id(spec.id, metric_names()).base
    if base != spec.id and (declared := get_benchmark(base)).metric == metric:
        return declared
    return get_benchmark(f"{base}-{metric}")


def metric_names() -> list[str]:
    """The registered metrics' names (the suffixes a benchmark id may carry)."""
    return [entry.name for entry in get_registry("metric").list()]


def get_leaderboard(name: str) -> LeaderboardSpec:
    leaderboards = load_catalog().leaderboards
    if name not in leaderboards:
        raise UnknownNameError("leaderboard", name, leaderboards)
    return leaderboards[name]


def describe_benchmark(benchmark: str) -> str:
    """One line saying what ``benchmark`` scores against: brain data (species and recording) or a simulation,
    then the benchmark's own description, e.g. ``cowley2023.V4: brain data (macaque, Utah array spike counts
    (100 ms)). Macaque V4, ...``. A dataset's card says which (``DatasetCard.simulated``).

    Raises :class:`~brainbench.errors.UnknownNameError` for an unknown benchmark or dataset.
    """
    spec = get_benchmark(benchmark)
    card = get_registry("dataset").get(spec.dataset).card
    if card.simulated:
        kind = "SIMULATION, not brain data (it validates the machinery; its ranking says nothing about brains)"
    else:
        kind = f"brain data ({card.species}, {card.recording})"
    text = spec.description or card.description
    return f"{spec.id}: {kind}." + (f" {text}" if text else "")
