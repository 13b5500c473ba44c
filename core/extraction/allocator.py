"""Host memory for extraction: feature arrays on their own mappings, and glibc malloc kept warm for CPU passes.

glibc serves blocks over its mmap threshold (at most 32 MiB) from fresh mappings and hands freed heap
memory over its trim threshold back to the system, so each batch of a CPU forward pass page-faults its
activations anew: on a 2-core machine that is 25-35% of resnet18's extraction time
(``benchmarks/bench_extraction.py``). While :func:`warm_heap` is active, every block comes from the heap
(``M_MMAP_MAX = 0``) and freed memory stays there (``M_TRIM_THRESHOLD``) for the next batch. On leaving,
glibc is set to the ceilings its own dynamic rule reaches in any long-running torch process (mmap
threshold 32 MiB, trim threshold 64 MiB) and ``malloc_trim`` returns what the passes freed.

Features are held apart from that heap, in :func:`mapped_array` s: anonymous mappings that go back to
the system as soon as the array is dropped, so a heap kept warm never strands them.

The tuning is skipped off glibc, where another allocator is preloaded, where the user set glibc's own
malloc variables, and with ``BRAINBENCH_TUNE_MALLOC=0``.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["TUNE_ENV", "mapped_array", "tunable", "warm_heap"]

TUNE_ENV = "BRAINBENCH_TUNE_MALLOC"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4  # glibc's mallopt parameters
KEEP_FREED = 2**31 - 1  # the largest trim threshold mallopt takes (an int): freed memory stays in the heap
CEILINGS = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20, M_MMAP_MAX: 65536}
USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_")
OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")

_lock = threading.Lock()
_depth = 0


def tunable() -> bool:
    """Whether :func:`warm_heap` changes anything here: glibc's malloc is in use and nobody else tunes it."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    if os.environ.get(TUNE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if any(name in os.environ for name in USER_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    return not any(name in os.environ.get("LD_PRELOAD", "") for name in OTHER_ALLOCATORS)


def _mallopt(libc: ctypes.CDLL, settings: dict[int, int]) -> None:
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]  # out-of-range values raise instead of wrapping
    for param, value in settings.items():
        libc.mallopt(param, value)


@contextmanager
def warm_heap() -> Iterator[None]:
    """Keep freed memory in glibc's heap for the block (see the module docstring); re-entrant and thread-safe."""
    global _depth
    if not tunable():
        yield
        return
    libc = ctypes.CDLL(None)
    with _lock:
        if _depth == 0:
            _mallopt(libc, {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: KEEP_FREED})
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _mallopt(libc, CEILINGS)
                libc.malloc_trim(0)


def mapped_array(shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
    """A zeroed, writable array on an anonymous memory mapping of its own, unmapped when the array is dropped."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    if size == 0:
        return np.zeros(shape, dtype)
    private = {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS} if hasattr(mmap, "MAP_PRIVATE") else {}  # POSIX
    return np.frombuffer(mmap.mmap(-1, size, **private), dtype=dtype).reshape(shape)
