"""Paired comparison of two models on one benchmark: score both (:mod:`brainbench.scoring.scorer`), then test the
difference of their scores (:func:`brainbench.scoring.inference.paired_test`, whose docstring gives the tests).

This is orchestration, kept apart from the statistics so that :mod:`brainbench.scoring.inference` imports no scorer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..results.result import PairedComparison
from .inference import _check, paired_test, with_interval
from .scorer import score_with_selection

if TYPE_CHECKING:
    from ..registry.contracts import Model
    from ..results.result import ScoreResult
    from ..results.store import ResultsStore

__all__ = ["compare_models"]


def compare_models(model_a: str | Model, model_b: str | Model, benchmark: str, *, n_boot: int = 1000,
                   n_perm: int = 1000, level: float = 0.95, store: ResultsStore | None = None,
                   **options: Any) -> tuple[PairedComparison, ScoreResult, ScoreResult]:
    """Score both models on ``benchmark`` (``options`` as :func:`brainbench.score`'s) and test the difference of
    their (raw) scores; each score carries its own bootstrap interval. The comparison's notes include the
    ceiling's (e.g. why there is no normalised score). Stores both scores when ``store`` is given.
    ``n_boot`` (>= 2), ``n_perm`` (>= 1) and ``level`` (0 < level < 1) are checked before either model is scored."""
    _check(n_boot, level, n_perm)
    scored = []
    for model in (model_a, model_b):
        result, selection = score_with_selection(model, benchmark, **options)
        scored.append((with_interval(result, selection, n_boot=n_boot, level=level), selection))
    (result_a, sel_a), (result_b, sel_b) = scored
    seed = result_a.provenance.split_seed  # the benchmark's: the same for both
    test = paired_test(sel_a, sel_b, n_boot=n_boot, n_perm=n_perm, level=level, seed=seed)
    # the ceiling is the benchmark's, the same for both: why their normalised scores are missing, said once
    test["notes"] = list(dict.fromkeys(sel_a.ceiling_notes + sel_b.ceiling_notes + test["notes"]))
    comparison = PairedComparison(benchmark=result_a.benchmark, metric=result_a.metric, model_a=result_a.model,
                                  model_b=result_b.model, score_a=result_a.raw, score_b=result_b.raw, **test)
    if store is not None:
        store.add(result_a)
        store.add(result_b)
    return comparison, result_a, result_b
