"""Device choice: CUDA, then Apple MPS, then CPU, unless the user names one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ConfigError

__all__ = ["pick_device", "seeded"]


def pick_device(requested: str | None = None) -> str:
    """Return a torch device string; ``None``/``"auto"`` picks the best available one.

    ``requested`` is ``cpu``, ``cuda``, ``cuda:N`` (N below the number of GPUs), ``mps`` or ``auto``; anything
    else, or a device this machine lacks, is a ConfigError saying what there is."""
    import torch

    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if not isinstance(requested, str):
        raise ConfigError(f"device {requested!r} is not a device name: use cpu, cuda, cuda:N, mps or auto")
    kind, colon, index = requested.partition(":")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if kind not in available or (colon and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"unknown device {requested!r}: use cpu, cuda, cuda:N, mps or auto")
    if not available[kind]:
        there = ", ".join(k for k, ok in available.items() if ok)
        raise ConfigError(f"device {requested!r} is not available on this machine (it has {there}); use --device cpu "
                          "or auto")
    if colon and int(index) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"device {requested!r} does not exist: this machine has {count} GPU{'s' * (count != 1)}, "
                          f"cuda:0 to cuda:{count - 1}")
    return requested


@contextmanager
def seeded(seed: int, device: str = "cpu") -> Iterator[None]:
    """torch's generator for the CPU, and for ``device`` if it is a GPU, seeded with ``seed`` inside the block and
    restored after it: a seeded model build or extraction is reproducible and leaves the caller's random state alone."""
    import torch

    dev = torch.device(device)
    gpu = dev.type in ("cuda", "mps")
    index = dev.index if dev.index is not None else (torch.cuda.current_device() if dev.type == "cuda" else 0)
    with torch.random.fork_rng(devices=[index] if gpu else [], device_type=dev.type if gpu else "cuda"):
        torch.default_generator.manual_seed(seed)
        if dev.type == "cuda":
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        elif dev.type == "mps":
            torch.mps.manual_seed(seed)
        yield
