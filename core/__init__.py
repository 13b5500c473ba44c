"""brainbench: score deep networks against brain data.

    >>> import brainbench
    >>> result = brainbench.score("efficientnet_lite0", "synthetic.late")   # doctest: +SKIP

``import brainbench`` is light: torch, timm, open_clip and lpips load only when a model does.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._moved import install as _install_moved
from ._version import __version__
from .registry.cards import (BenchmarkSpec, DatasetCard, ImageDistanceCard, LeaderboardSpec, MetricCard, ModelCard, SplitSpec,
                             TunerCard)
from .registry.catalog import get_benchmark, get_leaderboard, load_catalog
from .registry.contracts import Dataset, ImageDistance, Metric, MetricResult, MetricTarget, Model, ModelMetric, Tuner
from .registry.tuning import TuningResult
from .errors import (
    AssemblyError,
    BrainbenchError,
    ConfigError,
    DataFileError,
    DuplicateNameError,
    MemoryBudgetError,
    PluginError,
    ResultsStoreError,
    SplitError,
    UnknownNameError,
    WeightsNotFoundError,
)
from .registry.hookspecs import hookimpl
from .registry.plugin_manager import plugin_info, register_plugin, unregister_plugin
from .registry.catalog import describe_benchmark
from .registry.entries import get_dataset, get_image_distance, get_metric, get_model, get_tuner, list_entries

__all__ = [
    "AssemblyError", "BenchmarkSpec", "BrainbenchError", "ConfigError", "DataFileError", "Dataset", "DatasetCard",
    "DuplicateNameError", "LeaderboardSpec", "Metric", "MetricCard", "MetricResult", "Model", "ModelCard",
    "ModelMetric", "PluginError", "ResultsStoreError", "ScoreResult", "SplitError", "SplitSpec", "StimulusSet",
    "Tuner", "TunerCard", "TuningResult", "UnknownNameError", "WeightsNotFoundError", "__version__",
    "get_benchmark", "get_dataset", "get_leaderboard", "get_metric", "get_model", "get_tuner", "hookimpl",
    "leaderboard", "list_benchmarks", "list_datasets", "list_metrics", "list_models", "list_tuners",
    "load_catalog", "plugin_info", "read_assembly", "register_plugin", "score", "unregister_plugin",
    "write_assembly", "ResultsStore", "wrap", "extract", "plan_extraction", "MemoryBudgetError", "compare_models",
    "describe_benchmark", "ExtractionOptions", "MetricTarget", "ImageDistance", "ImageDistanceCard",
    "get_image_distance", "list_image_distances", "measure_interpretability",
]

_install_moved()  # old module paths (brainbench.assembly, ...) still import, with a DeprecationWarning

# Heavier pieces (xarray, pandas, SQLAlchemy, torch) load on first access.
_LAZY = {
    "score": "scoring.scorer",
    "compare_models": "scoring.compare",
    "ScoreResult": "results.result",
    "ResultsStore": "results.store",
    "leaderboard": "results.leaderboards",
    "StimulusSet": "data.stimuli",
    "read_assembly": "data.netcdf",
    "write_assembly": "data.netcdf",
    "wrap": "extraction.torch_model",
    "extract": "extraction.run",
    "plan_extraction": "extraction.plan",
    "ExtractionOptions": "extraction.options",
    "measure_interpretability": "interpret.measure",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'brainbench' has no attribute {name!r}")


def _lister(kind: str):
    def list_kind(include: Any = None, exclude: Any = None, where: dict[str, str] | None = None, *,
                  as_frame: bool = False) -> Any:
        entries = list_entries(kind, include, exclude, where)
        if not as_frame:
            return [entry.name for entry in entries]
        import pandas as pd

        rows = [{"name": e.name, **e.card.metadata(), "plugin": e.plugin} for e in entries]
        return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()

    list_kind.__name__ = f"list_{kind}s"
    list_kind.__doc__ = (f"Names of registered {kind}s matching fnmatch ``include``/``exclude`` and metadata ``where``;"
                         f" ``as_frame=True`` gives their cards as a pandas DataFrame, one row per {kind}.")
    return list_kind


list_models = _lister("model")
list_datasets = _lister("dataset")
list_metrics = _lister("metric")
list_tuners = _lister("tuner")
list_benchmarks = _lister("benchmark")
list_image_distances = _lister("image_distance")
