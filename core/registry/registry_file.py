"""registry.toml, the declarative catalog file (data, no code) of benchmarks and leaderboards: read and validated.

The registry of entries (:mod:`brainbench.registry.entries`) registers its benchmarks before the plugins' and
validates a plugin's benchmark with :func:`benchmark_spec`; :mod:`brainbench.registry.catalog` resolves benchmark
ids against that registry. This module imports neither, so the three import one way.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .cards import BenchmarkSpec, LeaderboardSpec
from ..errors import ConfigError
from ..names import parse_benchmark_id

__all__ = ["CATALOG_ENV", "Catalog", "benchmark_spec", "load_catalog"]

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
