"""score(model, benchmark): extraction -> metric per layer on fixed splits -> layer choice -> held-out score."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._version import __version__
from .assembly import average_repetitions, select, trials_by_repetition, validate_assembly
from .catalog import get_benchmark
from .ceiling import CEILING_RULE, split_half_reliability
from .device import pick_device
from .errors import AssemblyError, BrainbenchError
from .names import parse_benchmark_id
from .result import LayerScore, Provenance, ScoreResult, SubjectScore
from .splits import make_splits

if TYPE_CHECKING:
    from .cards import BenchmarkSpec
    from .contracts import Model
    from .store import ResultsStore

__all__ = ["score"]


def score(
    model: str | Model,
    benchmark: str,
    *,
    metric: str | None = None,
    weights: str | None = None,
    seed: int = 0,
    layers: Sequence[str] | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    store: ResultsStore | None = None,
    **extraction: object,
) -> ScoreResult:
    """Score ``model`` on ``benchmark``; store the result when ``store`` is a :class:`ResultsStore`.

    The layer is selected on the mean training-split score over all neuroids of the benchmark
    (one layer committed per benchmark); the reported score is that layer's held-out score,
    per subject (mean over neuroids of the split-mean r) and aggregated (mean over subjects).
    ``layers`` takes names, globs and ``depth:LO-HI`` ranges; ``extraction`` options (``tokens``,
    ``reduce``, ``memory_limit``, ``cache``) go to the model's extraction. Layers whose features
    repeat another candidate's are scored once.
    """
    from .registry import get_dataset, get_metric, get_model

    spec = get_benchmark(benchmark)
    if metric and metric != spec.metric:  # another metric is another benchmark: <dataset>.<region>-<metric>
        spec = get_benchmark(f"{parse_benchmark_id(spec.id).base}-{metric}")
    metric_obj = get_metric(spec.metric)
    dataset = get_dataset(spec.dataset)
    model_obj = get_model(model, weights=weights, seed=seed) if isinstance(model, str) else model

    stimuli = dataset.stimulus_set()
    trials = select(dataset.assembly(), spec.region, None if spec.subjects == "all" else spec.subjects)
    validate_assembly(trials, stimulus_set=stimuli, allow_nan="repetition" in trials.coords)
    target = average_repetitions(trials)
    if not np.isfinite(target.values).all():
        raise AssemblyError(f"benchmark {spec.id}: some neuroids have no finite response for some stimuli after averaging trials")
    ids = [str(s) for s in target["stimulus_id"].values]
    strata = target[spec.splits.stratify_by].values if spec.splits.stratify_by else None
    splits = make_splits(spec.splits, len(ids), strata)
    reliability = _reliability(spec, trials)

    resolved_device = pick_device(device)
    options = {k: v for k, v in extraction.items() if v is not None}
    features = model_obj.extract(stimuli.subset(ids), list(layers) if layers else None, batch_size=batch_size,
                                 device=resolved_device, progress=progress, **options)
    candidate = list(features)
    per_layer = {}
    for layer in candidate:  # one layer's features in memory at a time
        same = features.same_as(layer) if hasattr(features, "same_as") else None
        per_layer[layer] = per_layer[same] if same else metric_obj(features[layer], target, splits)
    layer_scores = {
        layer: LayerScore(train=float(r.train.mean()), test=float(r.test.mean())) for layer, r in per_layer.items()
    }
    best = max(candidate, key=lambda layer: layer_scores[layer].train)
    test_r = per_layer[best].test.mean("split").values
    subjects_of = target["subject"].values.astype(str)
    ceiling_of = np.sqrt(np.clip(reliability, 0, None)) if reliability is not None else None

    subjects = {}
    for subject in dict.fromkeys(subjects_of.tolist()):
        mask = subjects_of == subject
        raw = float(test_r[mask].mean())
        ceiling = float(ceiling_of[mask].mean()) if ceiling_of is not None else None
        subjects[subject] = SubjectScore(
            raw=raw, ceiling=ceiling, normalised=raw / ceiling if ceiling else None, n_neuroids=int(mask.sum())
        )
    normalised = [s.normalised for s in subjects.values()]
    return _finish(
        ScoreResult(
            model=model_obj.label,
            benchmark=spec.id,
            metric=spec.metric,
            layer=best,
            raw=float(np.mean([s.raw for s in subjects.values()])),
            ceiling=float(np.mean([s.ceiling for s in subjects.values()])) if ceiling_of is not None else None,
            normalised=float(np.mean(normalised)) if None not in normalised else None,
            subjects=subjects,
            layers=layer_scores,
            neuroids={
                "neuroid_id": target["neuroid_id"].values.astype(str).tolist(),
                "subject": subjects_of.tolist(),
                "test_r": test_r.round(6).tolist(),
                "reliability": None if reliability is None else np.round(reliability, 6).tolist(),
            },
            provenance=Provenance(
                model=model_obj.name,
                weights=model_obj.weights,
                weights_hash=model_obj.weights_hash(),
                benchmark=spec.id,
                benchmark_version=spec.version,
                metric=spec.metric,
                metric_version=metric_obj.card.version,
                brainbench_version=__version__,
                split_seed=spec.splits.seed,
                model_seed=getattr(model_obj, "seed", seed),
                stimulus_set=stimuli.identifier,
                ceiling_rule=CEILING_RULE if reliability is not None else "none",
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                device=resolved_device,
            ),
        ),
        store,
    )


def _finish(result: ScoreResult, store: ResultsStore | None) -> ScoreResult:
    if store is not None:
        store.add(result)
    return result


def _reliability(spec: BenchmarkSpec, trials) -> np.ndarray | None:
    if spec.ceiling == "none":
        return None
    if "repetition" not in trials.coords:
        raise BrainbenchError(
            f"benchmark {spec.id} asks for a split-half ceiling, but its assembly has no repeated trials; "
            "declare ceiling = \"none\" in its registry entry"
        )
    _, by_rep = trials_by_repetition(trials)
    return split_half_reliability(by_rep, seed=spec.splits.seed)

