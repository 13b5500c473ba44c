"""Memory sizes: parsing ``4GB``-style limits, the default budget, and human-readable bytes."""

from __future__ import annotations

import re

from ..errors import ConfigError

__all__ = ["default_memory_limit", "device_free_memory", "format_bytes", "parse_memory"]

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
DEFAULT_FRACTION = 0.5


def parse_memory(value: str | int | float) -> int:
    """Bytes in ``value``: an integer, or a number with a unit (``512MB``, ``4GB``, ``1.5GiB``)."""
    if isinstance(value, (int, float)):
        size = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", value)
        if not match or match.group(2).lower() not in _UNITS:
            raise ConfigError(f"memory limit {value!r} is not a size: write e.g. 4GB, 512MB, 1.5GiB or a number of bytes")
        size = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if size <= 0:
        raise ConfigError(f"memory limit {value!r} must be positive")
    return int(size)


def default_memory_limit() -> int:
    """Half of the memory available right now (psutil), so extraction leaves room for everything else."""
    import psutil

    return int(psutil.virtual_memory().available * DEFAULT_FRACTION)


def device_free_memory(device: str) -> int | None:
    """Bytes free for tensors on a CUDA ``device``: the driver's free memory plus what torch's caching
    allocator holds unused; ``None`` for the CPU and MPS, whose memory is the host's."""
    if not device.startswith("cuda"):
        return None
    import torch

    index = torch.device(device)
    free, _total = torch.cuda.mem_get_info(index)
    return int(free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index))


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
