"""Names: ``family.variant`` ids, benchmark ids, pattern filters and close matches."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple

__all__ = ["BenchmarkId", "close_matches", "matches", "parse_benchmark_id", "parse_name", "parse_where"]


def parse_name(name: str) -> tuple[str, str | None]:
    """Split ``family.variant`` at the first dot: ``resnet18.imagenet1k_v1`` -> ("resnet18", "imagenet1k_v1")."""
    family, dot, variant = name.partition(".")
    if not family or (dot and not variant):
        raise ValueError(f"bad name {name!r}: expected 'family' or 'family.variant'")
    return family, (variant or None)


class BenchmarkId(NamedTuple):
    """``<dataset>.<name>[-<metric>]``, e.g. ``nsd.OTC-ersa`` or ``nsd.FFA-1.subj01``."""

    dataset: str
    name: str
    metric: str | None

    @property
    def base(self) -> str:
        return f"{self.dataset}.{self.name}"


def parse_benchmark_id(benchmark: str, metrics: Collection[str] = ()) -> BenchmarkId:
    """Split a benchmark id into dataset, name and metric suffix.

    Regions carry hyphens of their own (NSD's ``FFA-1``), so the text after the last ``-`` is a metric
    suffix only when it is one of ``metrics`` (the registered metric names): ``nsd.FFA-1-ersa`` ->
    ("nsd", "FFA-1", "ersa"), ``nsd.FFA-1`` -> ("nsd", "FFA-1", None).
    """
    dataset, name = parse_name(benchmark)
    if name is None:
        raise ValueError(f"bad benchmark id {benchmark!r}: expected '<dataset>.<region>[-<metric>]', e.g. 'nsd.V4'")
    base, dash, metric = name.rpartition("-")
    if dash and base and metric in metrics:
        return BenchmarkId(dataset, base, metric)
    return BenchmarkId(dataset, name, None)


def matches(name: str, include: str | Iterable[str] | None = None, exclude: str | Iterable[str] | None = None) -> bool:
    """fnmatch ``name`` against include patterns (any) and exclude patterns (none). A pattern equal to the name
    matches it, so labels with brackets (``resnet18[random]``, which fnmatch reads as a character class) work."""
    include = [include] if isinstance(include, str) else list(include or ["*"])
    exclude = [exclude] if isinstance(exclude, str) else list(exclude or [])

    def hit(pattern: str) -> bool:
        return name == pattern or fnmatch.fnmatchcase(name, pattern)

    return any(map(hit, include)) and not any(map(hit, exclude))


def parse_where(clauses: Iterable[str]) -> dict[str, str]:
    """``["source=timm,task=classification"]`` -> {"source": "timm", "task": "classification"}."""
    where: dict[str, str] = {}
    for clause in clauses:
        for item in filter(None, (c.strip() for c in clause.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise ValueError(f"bad filter {item!r}: expected key=value, e.g. source=torchvision")
            where[key.strip()] = value.strip()
    return where


def where_matches(metadata: Mapping[str, object], where: Mapping[str, str]) -> bool:
    """Every ``key=pattern`` matches the metadata value (case-insensitive fnmatch; lists match any item)."""
    for key, pattern in where.items():
        if key not in metadata:
            return False
        value = metadata[key]
        values = value if isinstance(value, (list, tuple, set)) else [value]
        if not any(fnmatch.fnmatch(str(v).lower(), pattern.lower()) for v in values):
            return False
    return True


def close_matches(name: str, known: Iterable[str], n: int = 5) -> list[str]:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=n, cutoff=0.6)
    prefix = [k for k in known if k.startswith(name.split(".")[0]) and k not in close]
    return (close + prefix)[:n]
