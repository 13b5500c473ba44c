r"""The representational-similarity step shared by RDM metrics (the ``rsa`` and ``crsa`` metric plugins).

:func:`rsa_result` computes the model's RDM once over all stimuli and, on each split, compares its sub-RDM over
the training stimuli with each target's sub-RDM over the same stimuli, and likewise over the test stimuli:

.. math::

    \mathrm{train}_{s,k} = c\big(\mathrm{triu}\,D^{model}[T_k, T_k],\ \mathrm{triu}\,D^{(k)}_s[T_k, T_k]\big)

so a layer is chosen on pairs of training stimuli and scored on pairs of held-out stimuli only. Targets are
one RDM per entry of an RDM assembly, or a neural assembly, from which one RDM per subject is computed with
the same distance as the model's; with ``crossnobis`` the model's RDM (which has no noise) uses the squared
Euclidean distance that crossnobis estimates without bias. Distances and comparisons are those of
:mod:`brainbench.rdm.distances` and :mod:`brainbench.rdm.comparisons`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.assembly import align_features, split_scores
from ..rdm.comparisons import check_comparison, compare
from ..rdm.distances import check_distance, dissimilarity, rdms_of_responses
from ..rdm.rdms import is_rdm_assembly, upper_triangle
from ..registry.contracts import MetricResult
from .held_out import HeldOutRDMs

__all__ = ["check_rsa_options", "rsa_result"]


def check_rsa_options(distance: str, comparison: str, metric: str = "RSA") -> None:
    """Raise :class:`~brainbench.errors.ConfigError` naming the choices and close matches when ``distance`` is not
    one of :data:`~brainbench.rdm.distances.TRIAL_DISTANCES` (crossnobis included) or ``comparison`` not one of
    :data:`~brainbench.rdm.comparisons.COMPARISONS` (the one check of each, in :mod:`brainbench.rdm`)."""
    check_distance(distance, f"{metric} distance", trials=True)
    check_comparison(comparison, f"{metric} comparison")


def rsa_result(features: Any, target: Any, splits: Sequence[Any], distance: str, comparison: str,
               device: str | None = None) -> MetricResult:
    """The model's RDM (``distance``) against each target RDM (``comparison``) on each split's training and test
    stimuli.

    ``features``: ``(presentation, neuroid)`` assembly with ``stimulus_id``; ``target``: an RDM assembly
    ``(rdm, stimulus, stimulus_b)`` or a neural assembly ``(presentation, neuroid)``; ``splits``: objects with
    integer index arrays ``train`` and ``test`` into the target's stimuli. Returns train and test scores
    ``(split, rdm)`` and :class:`~brainbench.scoring.held_out.HeldOutRDMs` of the test stimuli."""
    targets = target if is_rdm_assembly(target) else rdms_of_responses(target, distance)
    model_distance = "sqeuclidean" if distance == "crossnobis" else distance
    model = dissimilarity(align_features(features, targets["stimulus_id"].values), model_distance, device=device)
    values = targets.values

    def triangles(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return upper_triangle(model[np.ix_(index, index)])[None], upper_triangle(values[:, index][:, :, index])

    tested = [triangles(s.test) for s in splits]
    held_out = HeldOutRDMs([s.test for s in splits], *map(list, zip(*tested, strict=True)), comparison)
    return MetricResult(
        train=split_scores([compare(*triangles(s.train), comparison) for s in splits], "rdm", targets),
        test=split_scores([compare(*pair, comparison) for pair in tested], "rdm", targets), held_out=held_out)
