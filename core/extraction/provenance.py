"""A model's code provenance and preprocessing fingerprint, parts of its identity beside the state hash of
:mod:`brainbench.extraction.identity`: the versions of the code its forward pass runs (:func:`forward_code`)
and a hash of its preprocessing (:func:`preprocess_fingerprint`). :class:`~brainbench.extraction.torch_model.TorchModel`
reads both for the activation cache key and score provenance."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .identity import stable_repr

if TYPE_CHECKING:
    import torch

    from .torch_model import TorchModel

__all__ = ["forward_code", "preprocess_fingerprint"]


def preprocess_fingerprint(model: TorchModel) -> str:
    """sha256 of the preprocessing's description (its repr without object addresses, which differ between
    processes) and of its output on a fixed probe image."""
    from PIL import Image

    from .identity import stable_repr

    probe = np.random.default_rng(0).integers(0, 256, size=(83, 61, 3), dtype=np.uint8)
    tensor = model.preprocess(Image.fromarray(probe) if model.modality == "image" else "A probe caption, 12 words.")
    h = hashlib.sha256(stable_repr(model.preprocess).encode())
    h.update(str(tuple(tensor.shape)).encode())
    h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def forward_code(module: torch.nn.Module) -> dict[str, str]:
    """The versions of the code the forward pass runs: every package that defines one of the module's submodule
    classes (torch, torchvision, timm, open_clip, transformers, brainbench, a user's package), and torch itself.
    A class from a file outside any installed distribution (a script, a notebook's module) counts by the
    sha256 of its source file. An upgrade that changes a model's forward therefore never hits stale features."""
    import sys

    import torch

    code = {"torch": torch.__version__}
    for module_name in sorted({type(m).__module__ for m in module.modules()}):
        package = module_name.partition(".")[0]
        if package not in code:
            code[package] = _package_version(package) or _source_hash(sys.modules.get(module_name))
    return code


@functools.cache
def _package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for distribution in _distributions().get(package, []):
        try:
            return f"{distribution}=={version(distribution)}"
        except PackageNotFoundError:
            continue
    return None


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Top-level package -> the installed distributions providing it (read once: it scans every install)."""
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _source_hash(module: Any) -> str:
    path = getattr(module, "__file__", None)
    if path is None or not Path(path).is_file():
        return "unknown"  # defined interactively: nothing on disk to follow
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
