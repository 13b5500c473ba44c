"""Shared timing and peak-memory helpers for the benchmarks."""

import ctypes
import ctypes.util
import gc
import os
import sys
import threading
import time

import numpy as np
import psutil

SCALE = float(os.environ.get("BENCH_SCALE", "1"))  # BENCH_SCALE=0.05 runs every benchmark at a twentieth of its size


def sized(n):
    """``n`` scaled by BENCH_SCALE (at least 8)."""
    return max(8, int(n * SCALE))


def ereg_problem():
    """The eReg race's data, seeded: ``(Ztr, Zte, Ytr)`` as float64 numpy arrays, 500 training and 500 test
    stimuli x 5920 standardised features (60 latent dimensions plus noise) and 10,000 neuroids read out of them."""
    n, p, q = sized(1000), sized(5920), sized(10000)
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((n, 60)) @ rng.standard_normal((60, p)) + rng.standard_normal((n, p))
    Y = Z[:, :60] @ rng.standard_normal((60, q)) * 0.1 + rng.standard_normal((n, q))
    tr, te = np.arange(0, n, 2), np.arange(1, n, 2)
    mean, sd = Z[tr].mean(0), Z[tr].std(0)
    return (Z[tr] - mean) / sd, (Z[te] - mean) / sd, Y[tr]


def best_of(fn, repeats=3):
    """Best wall time of ``repeats`` calls (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def report(name, ours, reference, reference_name):
    print(f"{name}: brainbench {ours:.3f}s | {reference_name} {reference:.3f}s | ratio (ref/ours) {reference / ours:.2f}x", flush=True)


def peak_memory(fn):
    """(peak resident memory above the starting level in bytes, result) of one call, sampled every 5 ms.

    Memory freed by earlier calls is first handed back to the system (``malloc_trim``), so a call
    that reuses it still shows its own peak rather than 0."""
    gc.collect()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    process = psutil.Process()
    start = process.memory_info().rss
    peak, done = [start], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn()
    finally:
        done.set()
        thread.join()
    return max(peak[0], process.memory_info().rss) - start, result


def report_memory(ours, reference, reference_name):
    """Print both peaks from :func:`peak_memory` (resident memory, psutil RSS sampled every 5 ms in a thread, above
    the level before the call) and their ratio, reference over ours as for times (above 1: we hold less)."""
    ratio = f"{reference / ours:.2f}x" if ours > 0 else "n/a (ours stayed at its starting level)"
    print(f"  peak memory (RSS above start, psutil sampled every 5 ms): brainbench {ours / 2**20:.0f} MiB | "
          f"{reference_name} {reference / 2**20:.0f} MiB | ratio (ref/ours) {ratio}", flush=True)
