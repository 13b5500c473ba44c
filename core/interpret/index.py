r"""The interpretability index (II) of Klindt et al. 2023 (arXiv 2310.11431), and its baseline.

For a unit with maximally exciting images :math:`x_1..x_k` (its top-k probe images, :mod:`.topk`) and an image
distance :math:`d` (LPIPS, or another perceptual distance, passed in),

.. math::

    \mathrm{II} = \frac{2}{k(k-1)} \sum_{i<j} \big(1 - d(x_i, x_j)\big)
               = 1 - \bar d,\qquad \bar d = \text{the mean distance over the } k(k-1)/2 \text{ distinct pairs}

— never the diagonal (an image against itself, distance 0, would inflate II by a factor :math:`k/(k-1)` of
the mean), and with every pair enumerated explicitly (pair :math:`(i, j)` as index arrays), since LPIPS compares
two batches index by index. Similarity is ``1 - distance``; the mean distance is reported beside it.

**Baseline.** The same statistic over ``n_sets`` random k-image sets drawn without replacement from the same
probe set (seeded): what II is for a unit with no preference. The normalised index is the unit's II in standard
deviations of that baseline, :math:`(\mathrm{II} - \mu_0) / \sigma_0` (:math:`\sigma_0` with ``ddof=1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..checks import check_count, check_seed
from ..errors import ConfigError

__all__ = ["Baseline", "distinct_pairs", "interpretability_index", "random_set_baseline"]

# distance(a, b): distances between probe images a[p] and b[p] for index arrays a, b of equal length (m,) -> (m,)
PairDistance = Callable[[np.ndarray, np.ndarray], np.ndarray]


def distinct_pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k(k-1)/2 distinct unordered pairs ``(i, j)``, i < j, of k items, as two index arrays."""
    check_count(k, "k (images per unit)", minimum=2, hint="II compares pairs of a unit's images")
    i, j = np.triu_indices(k, 1)
    return i.astype(np.int64), j.astype(np.int64)


def _mean_pair_distances(image_sets: np.ndarray, distance: PairDistance, pairs_per_call: int) -> np.ndarray:
    """Per set (row of ``image_sets``, probe indices), the mean distance over its distinct pairs."""
    sets = np.asarray(image_sets)
    if sets.ndim != 2 or not np.issubdtype(sets.dtype, np.integer):
        raise ConfigError(f"image sets must be (units, k) integer probe indices; got {sets.dtype} of shape {sets.shape}")
    i, j = distinct_pairs(sets.shape[1])
    a, b = sets[:, i].ravel(), sets[:, j].ravel()  # every pair of every set, set by set
    out = np.empty(len(a))
    for start in range(0, len(a), pairs_per_call):
        d = np.asarray(distance(a[start:start + pairs_per_call], b[start:start + pairs_per_call]), dtype=np.float64)
        if d.shape != (min(pairs_per_call, len(a) - start),):
            raise ConfigError(f"the distance function returned shape {d.shape} for "
                              f"{min(pairs_per_call, len(a) - start)} pairs; it must return one distance per pair")
        if not np.isfinite(d).all():
            raise ConfigError("the distance function returned non-finite distances; check the images it compares")
        out[start:start + len(d)] = d
    return out.reshape(len(sets), len(i)).mean(axis=1)


def interpretability_index(image_sets: np.ndarray, distance: PairDistance, *,
                           pairs_per_call: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(ii, mean_distance)``, each ``(units,)``: II = 1 - the mean distance over the distinct pairs of each unit's
    images. ``image_sets``: ``(units, k)`` probe indices (k >= 2), e.g. :meth:`.TopK.result`'s indices;
    ``distance`` is called with index arrays of at most ``pairs_per_call`` pairs. Raises
    :class:`~brainbench.errors.ConfigError` for k < 2, non-integer indices, or a distance function returning the wrong
    shape or non-finite values."""
    mean_distance = _mean_pair_distances(image_sets, distance, check_count(pairs_per_call, "pairs per call"))
    return 1.0 - mean_distance, mean_distance


@dataclass(frozen=True)
class Baseline:
    """II of ``values.size`` random k-image sets of one probe set: their values, mean and sd (ddof=1)."""

    k: int
    n_probe: int
    seed: int
    values: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def sd(self) -> float:
        return float(self.values.std(ddof=1))

    def normalise(self, ii: np.ndarray) -> np.ndarray:
        """``(ii - mean) / sd``: II in standard deviations of the baseline (0: no better than random images)."""
        if not self.sd > 0:
            raise ConfigError(f"the baseline's {self.values.size} random sets all have II {self.mean:.6g}: its sd is 0, "
                              "so II cannot be normalised against it; use more sets or a larger probe set")
        return (np.asarray(ii, dtype=np.float64) - self.mean) / self.sd


def random_set_baseline(n_probe: int, k: int, distance: PairDistance, *, n_sets: int = 100, seed: int = 0,
                        pairs_per_call: int = 256) -> Baseline:
    """:class:`Baseline`: II of ``n_sets`` random sets of ``k`` distinct images of a probe set of ``n_probe``,
    drawn with ``numpy.random.default_rng(seed)``. Raises :class:`~brainbench.errors.ConfigError` for a probe set
    smaller than k, fewer than 2 sets, or a bad seed."""
    check_count(n_sets, "baseline sets", minimum=2, hint="its sd needs two")
    seed = check_seed(seed, "baseline seed")
    if check_count(n_probe, "probe set size") < k:
        raise ConfigError(f"the probe set has {n_probe} images, fewer than k = {k}; use a larger probe set or a "
                          "smaller k")
    rng = np.random.default_rng(seed)
    sets = np.stack([rng.choice(n_probe, size=k, replace=False) for _ in range(n_sets)]).astype(np.int64)
    ii, _ = interpretability_index(sets, distance, pairs_per_call=pairs_per_call)
    return Baseline(k=k, n_probe=n_probe, seed=seed, values=ii)
