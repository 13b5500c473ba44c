r"""Representational similarity analysis: the model's RDM against brain RDMs, on each split.

The model RDM is computed once over all stimuli (1 - Pearson between feature vectors by
default, :func:`brainbench.rdm.distances.dissimilarity`;
the step shared with ``crsa`` is :func:`brainbench.scoring.rsa.rsa_result`). For each split, its sub-RDM over the training
stimuli is compared with each target's sub-RDM over the same stimuli (Spearman over the upper
triangle by default), and likewise over the test stimuli:

.. math::

    \mathrm{train}_{s,k} = c\big(\mathrm{triu}\,D^{model}[T_k, T_k],\ \mathrm{triu}\,D^{(k)}_s[T_k, T_k]\big)

so a layer is chosen on pairs of training stimuli and scored on pairs of held-out stimuli only.

Targets are one RDM per entry of an RDM assembly (``(rdm, stimulus, stimulus_b)``; the scorer
averages a subject's entries, e.g. sessions, first), or a neural assembly, from which one RDM per
subject is computed over its neuroids with the same distance as the model's. With ``crossnobis``
(trials with repetitions needed) the brain RDMs are cross-validated and the model's, which has no noise,
uses the squared Euclidean distance that crossnobis estimates without bias.

Distances: correlation, cosine, euclidean, sqeuclidean, crossnobis; comparisons: spearman, pearson,
cosine, rho_a, tau_a (:mod:`brainbench.rdm.distances`, :mod:`brainbench.rdm.comparisons`).
"""

from __future__ import annotations

from brainbench import MetricCard, hookimpl
from brainbench.registry.contracts import Metric, MetricResult, MetricTarget
from brainbench.scoring.rsa import check_rsa_options, rsa_result

NAME, VERSION = "rsa", "1"


class RSA(Metric):
    """RDM of the features (``distance``) vs each target RDM (``comparison``), per split and part
    (:func:`brainbench.scoring.rsa.rsa_result`)."""

    def __init__(self, distance: str = "correlation", comparison: str = "spearman", device: str | None = None):
        check_rsa_options(distance, comparison)
        self.card = card()
        self.distance, self.comparison, self.device = distance, comparison, device

    @property
    def target(self) -> MetricTarget:
        """One RDM per subject, computed with this metric's distance (or a dataset's RDMs), compared with its comparison."""
        return MetricTarget("rdms", "rdm", self.distance, self.comparison)

    def __call__(self, features, target, splits) -> MetricResult:
        return rsa_result(features, target, splits, self.distance, self.comparison, self.device)


def card() -> MetricCard:
    return MetricCard(
        name=NAME,
        description="RSA: 1-Pearson model RDM vs each subject's RDM, Spearman over the upper triangle, on the "
                    "training and held-out stimuli of each split.",
        version=VERSION,
        kind="rsa",
    )


@hookimpl
def register_metrics(register):
    register(card(), RSA)
