r"""The alignment protocol of Conwell et al. (DeepJuice, DeepNSD): cRSA, eReg and eRSA.

All three use one fixed split over the benchmark's stimuli (even positions train, odd positions
test) and choose the layer per subject on the training half: the metrics' ``protocol``, which a
benchmark derived as ``<base>-crsa`` / ``-ereg`` / ``-ersa`` takes.

- **cRSA**: 1 - Pearson RDMs of the unreduced features and of each subject's responses, compared by
  the Pearson r of their upper triangles, on each half.
- **eReg**: features -> sparse random projection (Li et al. 2006; scikit-learn's, seeded) to the
  Johnson-Lindenstrauss dimension for 1000 samples at eps = 0.1, 5920, for every layer (smaller ones
  are projected up) -> standardised with the training half's mean and SD -> ridge with alphas
  logspace(-1, 5, 7), one per neuroid, chosen by the Pearson r of its leave-one-out predictions on
  the training half (:func:`brainbench.encoding.regression.ridge_path`). Train score: that LOO r; test score:
  the Pearson r of the held-out predictions; per neuroid.
- **eRSA**: the 1 - Pearson RDM of a subject's eReg predictions (LOO predictions on the training half,
  held-out predictions on the test half) against that subject's brain RDM of the same half, by Pearson r.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from brainbench import MetricCard, hookimpl
from brainbench.data.assembly import split_scores
from brainbench.checks import check_choice, check_count, check_positive_numbers, check_seed
from brainbench.registry.contracts import Metric, MetricResult, MetricTarget
from brainbench.errors import ConfigError
from brainbench.scoring.held_out import HeldOutPredictions, HeldOutRDMs
from brainbench.rdm.comparisons import compare
from brainbench.rdm.distances import dissimilarity
from brainbench.rdm.rdms import group_labels, subject_groups, upper_triangle
from brainbench.scoring.rsa import rsa_result
from brainbench.extraction.reduction import ReductionSpec, fit_srp
from brainbench.encoding.regression import eigenbasis, pearson_columns, ridge_path

VERSION = "1"
ALPHAS = tuple(np.logspace(-1, 5, 7))
JL_DIM = 5920  # sklearn.random_projection.johnson_lindenstrauss_min_dim(1000, eps=0.1)
PROTOCOL = {"splits": {"kind": "even_odd"}, "layer_selection": "subject"}
CITATION = "Conwell et al. 2024, Nature Communications (DeepNSD); DeepJuice"


class CRSA(Metric):
    """Classical RSA: 1 - Pearson RDMs of all features vs each subject's, compared by Pearson r
    (:func:`brainbench.scoring.rsa.rsa_result`, as the ``rsa`` metric with these two settings)."""

    distance, comparison = "correlation", "pearson"
    target = MetricTarget("rdms", "rdm", distance, comparison)

    def __init__(self, device: str | None = None):
        self.card = crsa_card()
        self.device = device

    def __call__(self, features, target, splits) -> MetricResult:
        return rsa_result(features, target, splits, self.distance, self.comparison, self.device)


class EncodingRegression(Metric):
    """eReg: SRP to 5920 dimensions, standardise, ridge with one alpha per neuroid by LOO Pearson r."""

    target = MetricTarget("responses", "neuroid")

    def __init__(self, alphas: Sequence[float] = ALPHAS, n_components: int = JL_DIM, seed: int = 0,
                 device: str | None = None, dtype: str = "float64"):
        self.card = ereg_card()
        self.alphas = check_positive_numbers(alphas, "ereg alphas")
        self.n_components = check_count(n_components, "ereg n_components", hint=f"DeepJuice's is {JL_DIM}")
        self.seed, self.device = check_seed(seed, "ereg seed"), device
        self.dtype = check_choice(dtype, "ereg dtype", ("float64", "float32"))

    def fits(self, features, target, splits) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
        """Per split: (best alpha index, LOO predictions, test predictions, training responses, test responses)."""
        import torch

        from brainbench.encoding.align import metric_tensors

        reduced = features.attrs.get("reduction", "none")
        if reduced != "none":
            raise ConfigError(f"eReg projects the features itself (sparse random projection to {self.n_components}, "
                              f"DeepJuice's protocol); these were already reduced at extraction ({reduced}): score "
                              "without --reduce")
        data = metric_tensors(features, target, device=self.device, dtype=self.dtype)
        device, dtype, X, Y = data.device, data.dtype, data.X, data.Y
        projector = fit_srp(X.shape[1], ReductionSpec("srp", self.n_components, self.seed), device)
        Z = projector(X).to(dtype)
        alphas = torch.tensor(self.alphas, device=device, dtype=dtype)
        for split in splits:
            tr, te = (torch.from_numpy(index).to(device) for index in (split.train, split.test))
            mean, sd = Z[tr].mean(0), Z[tr].std(0, correction=0)
            sd = torch.where(sd > 0, sd, torch.ones_like(sd))  # constant columns stay at 0, as StandardScaler
            basis = eigenbasis((Z[tr] - mean) / sd, (Z[te] - mean) / sd)
            best, loo, test = ridge_path(*basis, Y[tr], alphas, "pearson")
            yield best, loo, test, Y[tr], Y[te]

    def __call__(self, features, target, splits) -> MetricResult:
        import torch

        train, test, chosen, predicted, observed = [], [], [], [], []
        for best, loo, pred, y_train, y_test in self.fits(features, target, splits):
            train.append(pearson_columns(loo, y_train))
            test.append(pearson_columns(pred, y_test))
            chosen.append(torch.tensor(self.alphas, dtype=loo.dtype)[best.cpu()])
            predicted.append(pred), observed.append(y_test)
        return MetricResult(train=split_scores(train, "neuroid", target), test=split_scores(test, "neuroid", target),
                            extra={"alpha": split_scores(chosen, "neuroid", target)},
                            held_out=HeldOutPredictions.from_splits(splits, predicted, observed))


class EncodingRSA(Metric):
    """eRSA: RDMs of each subject's eReg predictions vs its brain RDMs, per half, by Pearson r."""

    distance, comparison = "correlation", "pearson"
    target = MetricTarget("responses", "rdm", distance, comparison)  # predicts responses, scores a subject's RDM

    def __init__(self, **encoding: Any):
        self.encoding = EncodingRegression(**encoding)
        self.card = ersa_card()
        self._brain: tuple[Any, Any, list] | None = None  # (target, splits, brain RDMs): the same for every layer

    def __call__(self, features, target, splits) -> MetricResult:
        groups = subject_groups(target)

        def triangles(values: np.ndarray) -> list[np.ndarray]:
            return [upper_triangle(dissimilarity(values[:, mask], self.distance)) for mask in groups.values()]

        if self._brain is None or self._brain[0] is not target or self._brain[1] is not splits:
            Y = np.asarray(target.values, dtype=np.float64)
            self._brain = target, splits, [(triangles(Y[s.train]), triangles(Y[s.test])) for s in splits]

        train, test, models = [], [], []
        for (_, loo, pred, _, _), (brain_train, brain_test) in zip(self.encoding.fits(features, target, splits),
                                                                     self._brain[2], strict=True):
            train.append(compare(np.stack(triangles(loo.cpu().numpy())), np.stack(brain_train), self.comparison))
            models.append(np.stack(triangles(pred.cpu().numpy())))
            test.append(compare(models[-1], np.stack(brain_test), self.comparison))
        labels = group_labels(groups, "rdm")
        held_out = HeldOutRDMs([s.test for s in splits], models, [np.stack(b) for _, b in self._brain[2]], self.comparison)
        return MetricResult(train=split_scores(train, "rdm", labels), test=split_scores(test, "rdm", labels),
                            held_out=held_out)


def crsa_card() -> MetricCard:
    return MetricCard(name="crsa", version=VERSION, kind="rsa", protocol=PROTOCOL,
                      description="cRSA (DeepJuice): 1-Pearson RDMs of all features vs each subject's, Pearson r, "
                                  f"even/odd halves, layer per subject. {CITATION}")


def ereg_card() -> MetricCard:
    return MetricCard(name="ereg", version=VERSION, kind="encoding", protocol=PROTOCOL,
                      description="eReg (DeepJuice): SRP to 5920 dims, standardised, ridge alphas 1e-1..1e5 per neuroid "
                                  f"by LOO Pearson r; held-out r per neuroid, even/odd halves. {CITATION}")


def ersa_card() -> MetricCard:
    return MetricCard(name="ersa", version=VERSION, kind="encoding_rsa", protocol=PROTOCOL,
                      description="eRSA (DeepJuice): 1-Pearson RDMs of each subject's eReg predictions vs its brain "
                                  f"RDMs, Pearson r, even/odd halves. {CITATION}")


@hookimpl
def register_metrics(register):
    register(crsa_card(), CRSA)
    register(ereg_card(), EncodingRegression)
    register(ersa_card(), EncodingRSA)
