"""Shared timing helper for the benchmarks."""

import time


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
