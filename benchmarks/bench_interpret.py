"""Top-k maximally exciting images per unit, streamed over the probe set vs a full activation matrix and argsort.

The interpretability index needs each unit's k best probe images. brainbench's ``TopK`` takes the activations
batch by batch (as the extraction engine yields them) and keeps units x k values; the naive way holds the whole
(probe images x units) matrix and sorts each column (``numpy.argsort(kind="stable")``, the same tie rule). Both run
on the same seeded activations (512 units, k = 16, batches of 256), at 10,000 and 40,000 probe images: our peak
memory should not grow with the probe set; the naive one grows linearly. Indices are checked equal.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_of, peak_memory, report, report_memory, sized  # noqa: E402

UNITS, K, BATCH = 512, 16, 256


def _batches(n):
    for start in range(0, n, BATCH):
        yield np.random.default_rng(start).standard_normal((min(BATCH, n - start), UNITS))


def streamed(n):
    from brainbench.interpret.topk import TopK

    selector = TopK(K)
    for batch in _batches(n):
        selector.update(batch)
    return selector.result()[1]


def naive(n):
    acts = np.concatenate(list(_batches(n)))
    return np.argsort(-acts, axis=0, kind="stable")[:K].T


def main():
    for n in (sized(10_000), sized(40_000)):
        ours, a = best_of(lambda: streamed(n))
        ref, b = best_of(lambda: naive(n))
        assert np.array_equal(a, b), "streamed top-k differs from the full sort"
        report(f"top-{K} of {n:,} probe images x {UNITS} units", ours, ref, "full matrix + argsort")
        mem_ours, _ = peak_memory(lambda: streamed(n))
        mem_ref, _ = peak_memory(lambda: naive(n))
        report_memory(mem_ours, mem_ref, "full matrix + argsort")


if __name__ == "__main__":
    main()
