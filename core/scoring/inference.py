r"""Confidence intervals of a score, and paired tests between two models, by resampling held-out stimuli.

**Bootstrap interval** (percentile). Each of B replicates draws stimulus counts
:math:`w \sim \mathrm{Multinomial}(n, 1/n)` over the benchmark's n stimuli and, where there are several
subjects, S subjects with replacement. A replicate is computed exactly as the score is: per subject, the
chosen layer's held-out scores rescored under ``w`` (:mod:`brainbench.scoring.held_out`), aggregated over its units
in each split (mean or median), averaged over splits; then averaged over the drawn subjects. The interval
is the replicates' :math:`(1-\mathrm{level})/2` and :math:`(1+\mathrm{level})/2` quantiles; the normalised
interval normalises each subject's replicate as its score is (r / ceiling, or r^2 / ceiling under
Brain-Score's rule). Chosen layers, fitted models and ceilings are
held fixed, so the interval is conditional on them.

**Paired tests** of models A and B on one benchmark, :math:`d = \mathrm{score}_A - \mathrm{score}_B` (raw):

- paired bootstrap: A and B rescored under the same draws;
  :math:`p = \min(1,\ 2\min(\#\{d^* \le 0\}+1,\ \#\{d^* \ge 0\}+1)/(B+1))`;
- permutation: for encoding metrics, A's and B's predictions are exchanged on a random half of the stimuli
  (each stimulus independently, in every split that tests it), which is exact under the null that the two
  models' predictions are exchangeable; for RDM metrics and CKA, the signs of the per-subject differences are flipped
  (all :math:`2^S` patterns when :math:`2^S \le P`), which needs two subjects or more;
  :math:`p = (\#\{|d_\pi| \ge |d|\} + 1)/(P + 1)` (enumeration: the share of patterns, the identity included).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .ceiling import normalise
from ..errors import ConfigError
from .held_out import HeldOut, HeldOutPredictions
from ..results.result import Interval, PairedComparison

if TYPE_CHECKING:
    from ..results.result import ScoreResult

__all__ = ["ResamplingBasis", "bootstrap_interval", "describe", "paired_test", "with_interval"]

REPLICATES_PER_PASS = 64  # bootstrap or permutation replicates rescored at once (memory: this x units)


@dataclass
class ResamplingBasis:
    """What a score is computed from: per subject, the chosen layer's held-out data for the subject's units,
    the subject's raw score and ceiling (normalised = raw^ceiling_power / ceiling; ``None`` where the score has no
    normalised value: no ceiling, or one that is not trusted, as ``ceiling_notes`` say), and how units are aggregated."""

    metric: str
    benchmark: str
    subjects: list[str]
    held_out: list[HeldOut | None]
    raw: np.ndarray
    ceiling: np.ndarray | None
    aggregate: str
    n_stimuli: int
    ceiling_power: int = 1
    ceiling_notes: list[str] = field(default_factory=list)  # why a ceiling is not trusted, for the reader

    def require_held_out(self) -> None:
        if any(h is None for h in self.held_out):
            raise ConfigError(f"metric {self.metric!r} keeps no held-out data, so its scores have no bootstrap interval "
                              "or paired test; use a metric that does (ridge, banded_ridge, rsa, crsa, ereg, ersa, pls, "
                              "linear, bs_ridge, bs_ridgecv, cka, cka_biased)")

    def over_splits(self, per_split: list[np.ndarray]) -> np.ndarray:
        """Replicates' scores (B,) from per-split unit scores [(B, unit)]: aggregated over units, mean over splits."""
        aggregate = np.median if self.aggregate == "median" else np.mean
        return np.mean([aggregate(scores, axis=1) for scores in per_split], axis=0)

    def replicates(self, weights: np.ndarray) -> np.ndarray:
        """Per-subject scores (B, S) under stimulus ``weights`` (B, n_stimuli)."""
        self.require_held_out()
        out = np.empty((len(weights), len(self.subjects)))
        for start in range(0, len(weights), REPLICATES_PER_PASS):
            rows = slice(start, start + REPLICATES_PER_PASS)
            for s, held in enumerate(self.held_out):
                out[rows, s] = self.over_splits(held.rescore(weights[rows]))
        return out


def _draws(n_stimuli: int, n_subjects: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Stimulus counts (B, n) and, with several subjects, drawn subject indices (B, S)."""
    _fits(n_boot, n_stimuli, "bootstrap replicates", "--bootstrap")
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_stimuli, np.full(n_stimuli, 1 / n_stimuli), size=n_boot).astype(np.float64)
    picks = rng.integers(n_subjects, size=(n_boot, n_subjects)) if n_subjects > 1 else None
    return weights, picks


def _over_subjects(per_subject: np.ndarray, picks: np.ndarray | None) -> np.ndarray:
    if picks is None:
        return per_subject.mean(1)
    return np.take_along_axis(per_subject, picks, axis=1).mean(1)


def _check(n_boot: int, level: float, n_perm: int | None = None) -> None:
    """Replicate counts and the confidence level, checked before any work (ConfigError)."""
    from ..checks import check_count, check_level

    check_count(n_boot, "bootstrap replicates", minimum=2, hint="1000 is usual")
    if n_perm is not None:
        check_count(n_perm, "permutations", minimum=1, hint="1000 is usual")
    check_level(level)


def _fits(replicates: int, n_stimuli: int, what: str, option: str) -> None:
    """Resampling draws (replicates x stimuli, 8 bytes each) must fit the default memory budget."""
    from ..errors import MemoryBudgetError
    from ..extraction.memory import default_memory_limit, format_bytes

    need, limit = replicates * n_stimuli * 8, default_memory_limit()
    if need > limit:
        raise MemoryBudgetError(f"{replicates} {what} over {n_stimuli} stimuli hold {format_bytes(need)} of draws, "
                                f"more than half the available memory ({format_bytes(limit)}); use at most "
                                f"{limit // (8 * n_stimuli)} ({option}; 1000 is usual)")


def bootstrap_interval(selection: ResamplingBasis, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the raw (and normalised) score (module docstring)."""
    _check(n_boot, level)
    weights, picks = _draws(selection.n_stimuli, len(selection.subjects), n_boot, seed)
    per_subject = selection.replicates(weights)
    raw = _over_subjects(per_subject, picks)
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    low, high = np.quantile(raw, quantiles)
    normalised = None
    if selection.ceiling is not None and np.all(selection.ceiling != 0):
        per_subject_normalised = normalise(per_subject, selection.ceiling, selection.ceiling_power)
        normalised = np.quantile(_over_subjects(per_subject_normalised, picks), quantiles)
    return Interval(level=level, low=float(low), high=float(high), standard_error=float(raw.std(ddof=1)),
                    normalised_low=None if normalised is None else float(normalised[0]),
                    normalised_high=None if normalised is None else float(normalised[1]),
                    n_boot=n_boot, over="stimuli and subjects" if picks is not None else "stimuli", seed=seed)


def with_interval(result: ScoreResult, selection: ResamplingBasis, *, n_boot: int = 1000, level: float = 0.95) -> ScoreResult:
    """``result`` with its bootstrap interval, drawn with the benchmark's split seed."""
    interval = bootstrap_interval(selection, n_boot=n_boot, level=level, seed=result.provenance.split_seed)
    return result.model_copy(update={"interval": interval})


def paired_test(a: ResamplingBasis, b: ResamplingBasis, *, n_boot: int = 1000, n_perm: int = 1000, level: float = 0.95,
                seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap and permutation test of ``a``'s score minus ``b``'s (module docstring): the difference, its
    interval and p-values, as the fields of :class:`~brainbench.results.result.PairedComparison`."""
    _check(n_boot, level, n_perm)
    if (a.benchmark, a.subjects, a.n_stimuli) != (b.benchmark, b.subjects, b.n_stimuli):
        raise ConfigError(f"a paired test needs both scores on the same benchmark, subjects and stimuli; got "
                          f"{a.benchmark} ({len(a.subjects)} subjects, {a.n_stimuli} stimuli) and {b.benchmark} "
                          f"({len(b.subjects)} subjects, {b.n_stimuli} stimuli)")
    a.require_held_out()
    b.require_held_out()
    difference = float(a.raw.mean() - b.raw.mean())
    weights, picks = _draws(a.n_stimuli, len(a.subjects), n_boot, seed)
    diffs = _over_subjects(a.replicates(weights) - b.replicates(weights), picks)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    p_boot = min(1.0, 2 * min((diffs <= 0).sum() + 1, (diffs >= 0).sum() + 1) / (n_boot + 1))
    rng = np.random.default_rng([seed, 1])
    notes: list[str] = []
    if all(isinstance(h, HeldOutPredictions) for h in a.held_out):
        _fits(n_perm, a.n_stimuli, "permutations", "--permutations")
        d_perm = _exchanged_differences(a, b, rng.integers(0, 2, size=(n_perm, a.n_stimuli)))
        p_perm, permutation = (float(((np.abs(d_perm) >= abs(difference) - 1e-12).sum() + 1) / (n_perm + 1)),
                               "stimuli")
    elif len(a.subjects) >= 2:
        p_perm, permutation = _sign_flip(a.raw - b.raw, n_perm, rng), "subjects"
    else:
        p_perm, permutation = None, None
        notes.append("no permutation test: for RDM metrics and CKA it flips the signs of per-subject differences, which needs "
                     "two subjects or more, and this benchmark has one; the paired bootstrap stands alone")
    interval = Interval(level=level, low=float(low), high=float(high), standard_error=float(diffs.std(ddof=1)),
                        n_boot=n_boot, over="stimuli and subjects" if picks is not None else "stimuli", seed=seed)
    return {"difference": difference, "interval": interval, "p_bootstrap": float(p_boot), "p_permutation": p_perm,
            "permutation": permutation, "n_permutations": n_perm if permutation else 0, "notes": notes}


def _exchanged_differences(a: ResamplingBasis, b: ResamplingBasis, swaps: np.ndarray) -> np.ndarray:
    """Score differences (P,) after exchanging the two models' predictions on the stimuli where ``swaps`` is 1."""
    out = np.empty(len(swaps))
    for start in range(0, len(swaps), REPLICATES_PER_PASS):
        rows = slice(start, start + REPLICATES_PER_PASS)
        per_subject = []
        for held_a, held_b in zip(a.held_out, b.held_out, strict=True):
            mine, theirs = held_a.exchanged(held_b, swaps[rows])
            per_subject.append(a.over_splits(mine) - a.over_splits(theirs))
        out[rows] = np.mean(per_subject, axis=0)
    return out


def _sign_flip(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided sign-flip p-value of mean(d): exact over all 2^S patterns when they are no more than ``n_perm``."""
    observed = abs(d.mean()) - 1e-12
    if 2 ** len(d) <= n_perm:
        signs = np.array(list(itertools.product((1, -1), repeat=len(d))))
        return float((np.abs(signs @ d / len(d)) >= observed).mean())
    signs = rng.choice((-1, 1), size=(n_perm, len(d)))
    return float(((np.abs(signs @ d / len(d)) >= observed).sum() + 1) / (n_perm + 1))


def describe(comparison: PairedComparison) -> str:
    """One line a paper could quote."""
    p_perm = "" if comparison.p_permutation is None else (
        f", permutation over {comparison.permutation} p = {comparison.p_permutation:.3g}")
    ci = comparison.interval
    return (f"{comparison.model_a} - {comparison.model_b} on {comparison.benchmark}: {comparison.difference:+.4f} "
            f"[{ci.level:.0%} CI {ci.low:+.4f}, {ci.high:+.4f}], paired bootstrap p = {comparison.p_bootstrap:.3g}"
            f"{p_perm}")


def __getattr__(name: str) -> Any:
    """Old names, with a DeprecationWarning until brainbench 0.3: ``compare_models`` moved to
    :mod:`brainbench.scoring.compare` (it scores models; this module only tests scores), and ``Selection`` is
    :class:`ResamplingBasis`."""
    if name == "Selection":  # renamed in brainbench 0.2: the name did not say what it holds
        import warnings

        from .._moved import REMOVED_IN

        warnings.warn(f"brainbench.scoring.inference.Selection is now ResamplingBasis (what bootstrap intervals and "
                      f"paired tests resample); the old name goes in brainbench {REMOVED_IN}", DeprecationWarning,
                      stacklevel=2)
        return ResamplingBasis
    if name == "compare_models":
        import warnings

        from .._moved import REMOVED_IN
        from .compare import compare_models

        warnings.warn(f"brainbench.scoring.inference.compare_models moved to brainbench.scoring.compare.compare_models "
                      f"(or brainbench.compare_models); the old name goes in brainbench {REMOVED_IN}",
                      DeprecationWarning, stacklevel=2)
        return compare_models
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
