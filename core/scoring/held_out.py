r"""What a metric's held-out scores are computed from, kept so they can be rescored on resampled stimuli.

A metric that supports uncertainty (:mod:`brainbench.scoring.inference`) returns, beside its scores, the
material of each split's test stimuli in :attr:`MetricResult.held_out <brainbench.MetricResult>`:

- :class:`HeldOutPredictions` (encoding metrics): predicted and observed responses, scored by
  Pearson r per unit;
- :class:`HeldOutRDMs` (RDM metrics): upper triangles of the model's and each unit's brain RDM over
  the test stimuli, scored by an RDM comparison (:func:`brainbench.rdm.comparisons.compare`);
- :class:`HeldOutGrams` (CKA): the features' and each unit's Gram matrix over the test stimuli, scored
  by linear CKA (:func:`brainbench.encoding.cka.cka_weighted`, the stimuli repeated ``w_i`` times).

Both rescore under *stimulus weights* ``w`` (B, n_stimuli), indexed like the benchmark's stimuli: a
bootstrap draws counts ``w ~ Multinomial(n, 1/n)``, so a stimulus drawn twice counts twice in every split
that tests it. The weighted Pearson r

.. math::

    r_w = \frac{\sum_i w_i (p_i - \bar p_w)(o_i - \bar o_w)}
               {\sqrt{\sum_i w_i (p_i - \bar p_w)^2 \sum_i w_i (o_i - \bar o_w)^2}},
    \qquad \bar p_w = \frac{\sum_i w_i p_i}{\sum_i w_i}

equals Pearson r over the rows repeated ``w_i`` times, and RDM entry (i, j) carries weight ``w_i w_j``:
the RDM of the resampled stimuli without the pairs of a stimulus with its own copy (rsatoolbox's bootstrap).
Predictions can also be *exchanged* with another model's stimulus by stimulus (a paired permutation test).
A NaN score (a unit constant on the resample) is 0, as in the metrics' own scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.assembly import as_numpy
from ..encoding.cka import cka_weighted
from ..rdm.comparisons import compare_weighted

__all__ = ["HeldOut", "HeldOutGrams", "HeldOutPredictions", "HeldOutRDMs"]

CHUNK_BYTES = 2**24  # weights x entries held at once when rescoring RDMs (~8 such arrays live at a time)


def _pearson_from_sums(n, sx, sy, sxx, syy, sxy) -> np.ndarray:
    """Pearson r from (weighted) counts and moment sums, broadcast; 0 where a side has no variance."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (sxy - sx * sy / n) / np.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n))
    return np.nan_to_num(np.clip(r, -1, 1), nan=0.0)


@dataclass
class HeldOutPredictions:
    """Per split: ``test`` stimulus indices (n_test,), ``predicted`` and ``observed`` responses (n_test, unit)."""

    test: list[np.ndarray]
    predicted: list[np.ndarray]
    observed: list[np.ndarray]

    @classmethod
    def from_splits(cls, splits, predicted, observed) -> HeldOutPredictions:
        """From the metric's splits and per-split predictions and observations (arrays or torch tensors)."""
        return cls([s.test for s in splits], [as_numpy(p) for p in predicted], [as_numpy(o) for o in observed])

    def units(self, mask: np.ndarray) -> HeldOutPredictions:
        return HeldOutPredictions(self.test, [p[:, mask] for p in self.predicted], [o[:, mask] for o in self.observed])

    def _shift(self, k: int) -> np.ndarray:
        """One shift for every model's predictions and the observations of split ``k``: r is unchanged, sums stay
        small."""
        return self.observed[k].mean(0)

    def rescore(self, weights: np.ndarray) -> list[np.ndarray]:
        """Per split, Pearson r per unit under each row of stimulus ``weights`` (B, n_stimuli) -> (B, unit)."""
        out = []
        for k, test in enumerate(self.test):
            shift = self._shift(k)
            p, o = self.predicted[k] - shift, self.observed[k] - shift
            w = weights[:, test]
            out.append(_pearson_from_sums(w.sum(1)[:, None], w @ p, w @ o, w @ (p * p), w @ (o * o), w @ (p * o)))
        return out

    def exchanged(self, other: HeldOutPredictions, swaps: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per split, Pearson r per unit of this model's and ``other``'s predictions after exchanging them on the
        stimuli where ``swaps`` (P, n_stimuli) is 1: ((P, unit), (P, unit)) per split."""
        mine, theirs = [], []
        for k, test in enumerate(self.test):
            shift = self._shift(k)
            a, b, o = self.predicted[k] - shift, other.predicted[k] - shift, self.observed[k] - shift
            s = swaps[:, test].astype(np.float64)
            n, so, soo = len(test), o.sum(0), (o * o).sum(0)
            for x, y, out in ((a, b, mine), (b, a, theirs)):  # x with y's rows where swapped
                d = y - x
                out.append(_pearson_from_sums(n, x.sum(0) + s @ d, so, (x * x).sum(0) + s @ (y * y - x * x), soo,
                                              (x * o).sum(0) + s @ (d * o)))
        return mine, theirs


@dataclass
class HeldOutRDMs:
    """Per split: ``test`` stimulus indices, ``model`` RDM upper triangles (1 or unit, m) over them, ``brain``
    triangles (unit, m), compared by ``comparison``."""

    test: list[np.ndarray]
    model: list[np.ndarray]
    brain: list[np.ndarray]
    comparison: str

    def units(self, mask: np.ndarray) -> HeldOutRDMs:
        model = [m if len(m) == 1 else m[mask] for m in self.model]
        return HeldOutRDMs(self.test, model, [b[mask] for b in self.brain], self.comparison)

    def rescore(self, weights: np.ndarray) -> list[np.ndarray]:
        """Per split, each unit's comparison under each row of stimulus ``weights`` (B, n_stimuli) -> (B, unit)."""
        out = []
        for test, model, brain in zip(self.test, self.model, self.brain, strict=True):
            rows, cols = np.triu_indices(len(test), k=1)
            w = weights[:, test]
            scores = np.empty((len(weights), len(brain)))
            step = max(1, CHUNK_BYTES // (8 * max(len(rows), 1)))
            for start in range(0, len(weights), step):
                pair = w[start:start + step, rows] * w[start:start + step, cols]
                scores[start:start + step] = compare_weighted(model, brain, pair, self.comparison)
            out.append(np.nan_to_num(scores, nan=0.0))
        return out


@dataclass
class HeldOutGrams:
    """Per split: ``test`` stimulus indices, the features' Gram matrix (n_test, n_test) and each unit's response
    Gram matrix (unit, n_test, n_test), compared by linear CKA (``unbiased`` or biased)."""

    test: list[np.ndarray]
    features: list[np.ndarray]
    responses: list[np.ndarray]
    unbiased: bool

    def units(self, mask: np.ndarray) -> HeldOutGrams:
        return HeldOutGrams(self.test, self.features, [r[mask] for r in self.responses], self.unbiased)

    def rescore(self, weights: np.ndarray) -> list[np.ndarray]:
        """Per split, each unit's CKA under each row of stimulus ``weights`` (B, n_stimuli) -> (B, unit)."""
        return [np.stack([cka_weighted(K, L, weights[:, test], self.unbiased) for L in Ls], axis=1)
                for test, K, Ls in zip(self.test, self.features, self.responses, strict=True)]


HeldOut = HeldOutPredictions | HeldOutRDMs | HeldOutGrams
