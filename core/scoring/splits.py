"""Fixed split protocols over stimuli (deterministic given the benchmark's seed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..registry.cards import SplitSpec
from ..errors import SplitError

__all__ = ["MIN_TEST", "MIN_TRAIN", "Split", "make_splits"]

MIN_TRAIN, MIN_TEST = 4, 3  # a held-out Pearson r needs >= 3 points; a fit needs a few more


@dataclass(frozen=True)
class Split:
    """Indices into the stimulus order."""

    train: np.ndarray
    test: np.ndarray


def make_splits(spec: SplitSpec, n_stimuli: int, column: Sequence[object] | None = None) -> list[Split]:
    """The splits of ``spec`` over ``n_stimuli`` stimuli; ``column`` holds each stimulus's value of the column the
    protocol reads (:attr:`SplitSpec.column`): the strata, or a fixed split's test flags.

    ``kfold``: shuffled K-fold with ``seed``. ``shuffle``: ``n_splits`` random train/test splits
    with ``test_size`` (stratified shuffle splits when ``stratify_by`` is set, as Brain-Score does).
    ``even_odd``: one split, stimuli at even positions train and odd positions test (DeepJuice).
    ``fixed``: one split, the stimuli whose ``test_by`` value is true test, the others train
    (e.g. NSD's shared1000).
    """
    from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit

    if spec.kind == "fixed":
        test = _flags(column, spec.test_by)
        if (~test).sum() < MIN_TRAIN or test.sum() < MIN_TEST:
            raise SplitError(f"the fixed split by {spec.test_by!r} leaves {int((~test).sum())} training and "
                             f"{int(test.sum())} test stimuli; it needs at least {MIN_TRAIN} and {MIN_TEST} (are the "
                             "training stimuli part of the data?)")
        return [Split(np.flatnonzero(~test), np.flatnonzero(test))]
    if spec.kind == "even_odd":
        if n_stimuli < MIN_TRAIN + MIN_TEST:
            raise SplitError(f"{n_stimuli} stimuli are too few for an even/odd split: it needs at least "
                             f"{MIN_TRAIN + MIN_TEST}")
        return [Split(np.arange(0, n_stimuli, 2), np.arange(1, n_stimuli, 2))]

    test_size = spec.test_size or 1 / spec.n_splits
    n_test = int(np.floor(n_stimuli / spec.n_splits)) if spec.kind == "kfold" else int(np.ceil(n_stimuli * test_size))
    n_train = n_stimuli - (int(np.ceil(n_stimuli / spec.n_splits)) if spec.kind == "kfold" else n_test)
    if n_test < MIN_TEST or n_train < MIN_TRAIN:
        raise SplitError(
            f"{n_stimuli} stimuli are too few for {spec.n_splits} {spec.kind} splits: each split needs at least "
            f"{MIN_TRAIN} training and {MIN_TEST} test stimuli (it would get {n_train} and {n_test}); "
            "use fewer splits or more stimuli"
        )
    X = np.zeros((n_stimuli, 1))
    if spec.kind == "kfold":
        splitter = (StratifiedKFold if column is not None else KFold)(n_splits=spec.n_splits, shuffle=True, random_state=spec.seed)
    else:
        cls = StratifiedShuffleSplit if column is not None else ShuffleSplit
        splitter = cls(n_splits=spec.n_splits, test_size=test_size, random_state=spec.seed)
    y = None if column is None else np.asarray(column).astype(str)
    try:
        return [Split(np.sort(tr), np.sort(te)) for tr, te in splitter.split(X, y)]
    except ValueError as exc:
        raise SplitError(f"cannot make {spec.kind} splits stratified by {spec.stratify_by!r}: {exc}") from None


def _flags(values: Sequence[object] | None, column: str | None) -> np.ndarray:
    """A boolean column (bools, 0/1, or the strings true/false) as a bool array."""
    if values is None:
        raise SplitError(f"a fixed split needs the column {column!r} marking test stimuli")
    values = np.asarray(values)
    if values.dtype == bool:
        return values
    text = np.char.lower(values.astype(str))
    known = np.isin(text, ["true", "1", "1.0", "false", "0", "0.0"])
    if not known.all():
        raise SplitError(f"the fixed split's column {column!r} must be true/false; it holds e.g. "
                         f"{sorted(set(values[~known].astype(str).tolist()))[:3]}")
    return np.isin(text, ["true", "1", "1.0"])
