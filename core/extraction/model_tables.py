"""The model metadata tables of the model plugins (``plugins/models/tables/<source>.csv``, written by
``tools/build_model_tables.py``): one row per model and weights tag, and the model card built from a row.

A plugin passes the path of its own table (package data beside it). Reading one, and checking whether a
model's weights sit in its source's cache (:func:`brainbench.extraction.weights.weights_cached`), imports
neither torch nor the source library, so listing thousands of models stays instant.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from brainbench.registry.cards import ModelCard

from .weights import weights_cached

__all__ = ["card", "read_table"]


@cache
def read_table(path: Path) -> tuple[dict[str, str], ...]:
    """Rows of the CSV table at ``path``, each model's default tag first (the source's order otherwise).

    Raises ``FileNotFoundError`` (with the path) when the table is missing: a broken installation, since the
    tables ship as package data."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return tuple(sorted(rows, key=lambda r: r["default"] != "1"))  # stable: keeps the source's order otherwise


def card(row: dict[str, str], *, name: str, source: str, weights: list[str], description: str, url: str) -> ModelCard:
    """A model card from a table row (columns ``family``, ``task``, ``training_data``, ``input_size``,
    ``parameters``, ``hub``); ``offline_weights`` says whether the row's weights are in their source's cache now."""
    return ModelCard(
        name=name,
        description=description,
        source=source,
        architecture=row["family"],
        task=row["task"],
        training_data=row["training_data"],
        input_size=int(row["input_size"]) if row["input_size"] else None,
        parameters=int(row["parameters"]) if row["parameters"] else None,
        weights=weights,
        offline_weights=weights_cached(row["hub"]),
        url=url,
    )
