"""The model metadata tables (``tables/<source>.csv``, written by ``tools/build_model_tables.py``).

Reading them, and checking whether a model's weights sit in its source's cache, imports
neither torch nor the source library, so listing thousands of models stays instant.
"""

from __future__ import annotations

import csv
import os
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from brainbench import ModelCard

__all__ = ["card", "hf_cache_dir", "hf_hub_root", "read_table", "torch_hub_checkpoint", "weights_cached"]

TABLES = Path(__file__).parent / "tables"


@cache
def read_table(source: str) -> tuple[dict[str, str], ...]:
    """Rows of ``tables/<source>.csv``, each model's default tag first."""
    with open(TABLES / f"{source}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return tuple(sorted(rows, key=lambda r: r["default"] != "1"))  # stable: keeps the source's order otherwise


def torch_hub_checkpoint(url: str) -> Path:
    """Where torch hub caches ``url`` (``$TORCH_HOME/hub/checkpoints``), computed without importing torch."""
    home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch"
    return Path(home) / "hub" / "checkpoints" / Path(urlparse(url).path).name


def hf_hub_root() -> Path:
    """The Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``), read from the environment now."""
    hub = os.environ.get("HF_HUB_CACHE")
    if not hub:
        hf_home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
        hub = Path(hf_home) / "hub"
    return Path(hub)


def hf_cache_dir(repo: str) -> Path:
    """The Hugging Face hub cache folder of model ``repo`` (``org/name``)."""
    return hf_hub_root() / ("models--" + repo.strip("/").replace("/", "--"))


def weights_cached(hub: str) -> bool:
    """Whether the weights at ``hub`` (a URL, or a Hugging Face repo id) are in their source's cache."""
    if not hub:
        return False
    if hub.startswith(("http://", "https://")):
        name = Path(urlparse(hub).path).name
        return torch_hub_checkpoint(hub).exists() or (Path.home() / ".cache" / "clip" / name).exists()
    return (hf_cache_dir(hub) / "snapshots").is_dir()


def card(row: dict[str, str], *, name: str, source: str, weights: list[str], description: str, url: str) -> ModelCard:
    """A model card from a table row."""
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
