"""registry.toml: the declarative catalog of benchmarks and leaderboards, validated at load."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .cards import BenchmarkSpec, LeaderboardSpec
from ..errors import ConfigError, UnknownNameError
from ..names import parse_benchmark_id

__all__ = ["Catalog", "benchmark_spec", "get_benchmark", "get_leaderboard", "load_catalog"]

CATALOG_ENV = "BRAINBENCH_REGISTRY"


@dataclass(frozen=True)
class Catalog:
    path: str
    benchmarks: dict[str, BenchmarkSpec]
    leaderboards: dict[str, LeaderboardSpec]


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}" for e in exc.errors())


def benchmark_spec(data: BenchmarkSpec | dict[str, Any], *, source: str) -> BenchmarkSpec:
    """Validate a benchmark entry; errors name where it came from, its key and the problem."""
    if isinstance(data, BenchmarkSpec):
        data = data.model_dump()
    key = data.get("id", "?")
    try:
        spec = BenchmarkSpec.model_validate(data)
        parse_benchmark_id(spec.id)
    except ValidationError as exc:
        raise ConfigError(f"{source}: benchmarks.{key}: {_problems(exc)}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: benchmarks.{key}: {exc}") from None
    return spec


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate registry.toml (the packaged one, or ``$BRAINBENCH_REGISTRY``, or ``path``)."""
    path = path or os.environ.get(CATALOG_ENV)
    if path is None:
        ref = resources.files("brainbench") / "registry.toml"
        text, where = ref.read_text(encoding="utf-8"), str(ref)
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the registry file {where}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(raw) - {"benchmarks", "leaderboards"}
    if unknown:
        raise ConfigError(f"{where}: unknown top-level tables {sorted(unknown)}; allowed: benchmarks, leaderboards")
    benchmarks = {
        key: benchmark_spec({**entry, "id": key}, source=where) for key, entry in raw.get("benchmarks", {}).items()
    }
    leaderboards = {}
    for key, entry in raw.get("leaderboards", {}).items():
        try:
            leaderboards[key] = LeaderboardSpec.model_validate({**entry, "name": key})
        except ValidationError as exc:
            raise ConfigError(f"{where}: leaderboards.{key}: {_problems(exc)}") from None
    return Catalog(where, benchmarks, leaderboards)


def get_benchmark(benchmark: str) -> BenchmarkSpec:
    """Resolve a benchmark id; ``<base>-<metric>`` derives from a declared base with another metric (its
    options reset, and the settings the metric's reference protocol fixes applied)."""
    from .entries import get_registry

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
    from .entries import get_registry

    return [entry.name for entry in get_registry("metric").list()]


def get_leaderboard(name: str) -> LeaderboardSpec:
    leaderboards = load_catalog().leaderboards
    if name not in leaderboards:
        raise UnknownNameError("leaderboard", name, leaderboards)
    return leaderboards[name]
