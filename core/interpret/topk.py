"""Each unit's top-k stimuli, streamed over batches of activations.

A probe set of n images and a layer of u units would take an (n, u) activation matrix to ``argsort``; :class:`TopK`
keeps only the best ``k`` values and stimulus indices per unit, merging each batch into them with one
``argpartition`` (O(u (k + b)) per batch of b), so memory is O(u (k + b)) whatever n is. This is the selection
step of the interpretability index (Klindt et al. 2023, arXiv 2310.11431: a unit's k maximally exciting images
from the probe set).

Ties between equal activations go to the stimulus seen first (the lower index), as a stable descending sort of
the full matrix would give them; NaN activations are refused.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_count
from ..errors import ConfigError

__all__ = ["TopK", "top_k"]


class TopK:
    """Running top-``k`` per unit: :meth:`update` with batches of activations ``(batch, units)`` in probe order,
    then :meth:`result` gives ``(values, indices)``, each ``(units, k)``, best first; ``indices`` count
    stimuli from 0 across all batches.

    Raises :class:`~brainbench.errors.ConfigError` for k < 1, a batch whose unit count differs from the first,
    NaN activations, and (at :meth:`result`) a probe set of fewer than k stimuli.
    """

    def __init__(self, k: int):
        self.k = check_count(k, "k (images per unit)")
        self.seen = 0
        self._values: np.ndarray | None = None  # (units, <=k) float64, unordered
        self._indices: np.ndarray | None = None  # (units, <=k) int64

    def update(self, activations: np.ndarray) -> None:
        batch = np.asarray(activations, dtype=np.float64)
        if batch.ndim != 2:
            raise ConfigError(f"activations must be (stimuli, units); got shape {batch.shape}")
        if np.isnan(batch).any():
            rows = np.unique(np.nonzero(np.isnan(batch))[0]) + self.seen
            raise ConfigError(f"activations are NaN for stimuli {rows[:5].tolist()} (counted from 0 over the probe "
                              "set); a unit's top images are undefined there: check the model's inputs")
        if self._values is not None and batch.shape[1] != self._values.shape[0]:
            raise ConfigError(f"this batch has {batch.shape[1]} units; earlier batches had {self._values.shape[0]}")
        indices = np.broadcast_to(np.arange(self.seen, self.seen + len(batch))[None], (batch.shape[1], len(batch)))
        values = batch.T
        if self._values is not None:
            values = np.concatenate([self._values, values], axis=1)
            indices = np.concatenate([self._indices, indices], axis=1)
        self.seen += len(batch)
        if values.shape[1] > self.k:
            # order by (-value, index) so that equal values keep the earlier stimulus; lexsort is stable and exact
            keep = _best(values, indices, self.k)
            values = np.take_along_axis(values, keep, axis=1)
            indices = np.take_along_axis(indices, keep, axis=1)
        self._values, self._indices = np.ascontiguousarray(values), np.ascontiguousarray(indices)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if self._values is None or self.seen < self.k:
            raise ConfigError(f"the probe set has {self.seen} stimuli, fewer than k = {self.k} images per unit; use "
                              f"a larger probe set or a smaller k")
        order = _best(self._values, self._indices, self.k)
        return np.take_along_axis(self._values, order, axis=1), np.take_along_axis(self._indices, order, axis=1)


def _best(values: np.ndarray, indices: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's k best (value descending, then index ascending), best first."""
    if values.shape[1] > 4 * k:  # cut to candidates first: everything at or above the k-th largest value
        kth = -np.partition(-values, k - 1, axis=1)[:, k - 1:k]
        candidates = values >= kth
        width = int(candidates.sum(axis=1).max())
        pos = np.argsort(~candidates, axis=1, kind="stable")[:, :width]
    else:
        pos = np.broadcast_to(np.arange(values.shape[1])[None], values.shape)
    v, i = np.take_along_axis(values, pos, axis=1), np.take_along_axis(indices, pos, axis=1)
    order = np.lexsort((i, -v), axis=1)  # by value descending, ties by stimulus index ascending
    return np.take_along_axis(pos, order[:, :k], axis=1)


def top_k(activations: np.ndarray, k: int, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """:class:`TopK` over an in-memory ``(stimuli, units)`` matrix in batches of ``batch_size`` (for tests and small
    probe sets; the extraction engine streams its batches into :class:`TopK` directly)."""
    selector = TopK(k)
    activations = np.asarray(activations)
    for start in range(0, len(activations), check_count(batch_size, "batch size")):
        selector.update(activations[start:start + batch_size])
    return selector.result()
