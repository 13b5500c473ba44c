"""Published weights of the model plugins: where each source library caches them, and loading them from there
with a clear error when offline.

Shared by every built-in model plugin (torchvision, timm, open_clip, Hugging Face, efficientnet_lite, the
synthetic generator) and open to third-party ones. The cache locations are computed from the environment
without importing torch or the source library, so listing thousands of models stays instant.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from brainbench.errors import UnknownNameError, WeightsNotFoundError
from brainbench.data.home import OFFLINE_ENV, offline

__all__ = ["hf_cache_dir", "hf_hub_root", "hub_weights", "load_url_weights", "resolve_weights", "torch_hub_checkpoint",
           "weights_cached"]


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


def resolve_weights(model: str, requested: str | None, known: Sequence[str]) -> str:
    """The weights tag to build: ``requested``, or the first of ``known``; an unknown tag lists what exists."""
    weights = requested or known[0]
    if weights not in known:
        raise UnknownNameError(f"weights of {model}", weights, known)
    return weights


def load_url_weights(model: str, url: str) -> Any:
    """State dict for ``url`` from torch hub's cache, downloading only when allowed and possible."""
    import torch

    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    how = (
        f"download {url} on a connected machine and put it at {cached} "
        f"(or set TORCH_HOME), or score with --weights random for a seeded random initialisation"
    )
    if not cached.exists() and offline():
        raise WeightsNotFoundError(
            f"weights for {model!r} are not cached at {cached} and {OFFLINE_ENV} forbids downloading: {how}"
        )
    try:
        return torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        if cached.exists():  # a bad hash or a truncated pickle
            raise WeightsNotFoundError(
                f"the cached weights for {model!r} at {cached} are corrupt ({type(exc).__name__}: {exc}); "
                f"delete the file and {how}"
            ) from None
        raise
    except OSError as exc:  # URLError is an OSError; a bad hash is a RuntimeError
        raise WeightsNotFoundError(
            f"weights for {model!r} are not cached at {cached} and could not be downloaded "
            f"({type(exc).__name__}: {exc}): {how}"
        ) from None


def hub_weights(model: str, hub: str, load: Callable[[], Any]) -> Any:
    """``load()`` a model whose weights the source library fetches (from the Hugging Face hub or a URL),
    in offline mode when downloads are forbidden; a failure names the cache folder to fill."""
    where = torch_hub_checkpoint(hub) if hub.startswith(("http://", "https://")) else hf_cache_dir(hub)
    how = (f"on a connected machine run `hf download {hub}` (or load the model once), copy {where} here "
           f"(set HF_HOME or HF_HUB_CACHE if it lives elsewhere), or score with --weights random"
           if not hub.startswith("http") else f"download {hub} to {where}, or score with --weights random")
    import huggingface_hub.constants as hf

    saved = os.environ.get("HF_HUB_OFFLINE"), hf.HF_HUB_OFFLINE  # the hub reads the variable once, at import
    if offline():
        os.environ["HF_HUB_OFFLINE"], hf.HF_HUB_OFFLINE = "1", True
    try:
        return load()
    except (OSError, RuntimeError, ValueError) as exc:
        reason = f"{OFFLINE_ENV} forbids downloading" if offline() else f"loading failed ({type(exc).__name__}: {exc})"
        raise WeightsNotFoundError(f"weights for {model!r} are not in the cache at {where} and {reason}: {how}") from None
    finally:
        hf.HF_HUB_OFFLINE = saved[1]
        if saved[0] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[0]
