"""Device choice: CUDA, then Apple MPS, then CPU, unless the user names one."""

from __future__ import annotations

from .errors import BrainbenchError

__all__ = ["pick_device"]


def pick_device(requested: str | None = None) -> str:
    """Return a torch device string; ``None``/``"auto"`` picks the best available one."""
    import torch

    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":")[0]
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if kind not in available:
        raise BrainbenchError(f"unknown device {requested!r}: use cpu, cuda, cuda:N, mps or auto")
    if not available[kind]:
        raise BrainbenchError(f"device {requested!r} is not available on this machine; use --device cpu or auto")
    return requested
