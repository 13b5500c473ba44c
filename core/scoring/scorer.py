"""score(model, benchmark): extraction -> metric per layer on fixed splits -> layer choice -> held-out score."""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..data.assembly import combine_layers
from ..registry.catalog import get_benchmark, with_metric
from ..device import pick_device
from ..errors import CeilingWarning, ConfigError
from ..extraction.options import ExtractionOptions
from ..encoding.feature_stats import feature_statistics
from ..results.result import LayerScore, Provenance, ScoreResult, SubjectScore
from .splits import make_splits
from .targets import POOLED, ceilings, prepare_target

if TYPE_CHECKING:
    import xarray as xr

    from ..data.stimuli import StimulusSet
    from ..registry.cards import BenchmarkSpec
    from ..registry.contracts import Dataset, Metric, MetricResult, Model
    from ..results.store import ResultsStore
    from .inference import ResamplingBasis
    from .splits import Split
    from .targets import Ceiling, Target

__all__ = ["evaluate", "score", "score_with_selection"]


def score(model: str | Model, benchmark: str, *, bootstrap: int = 0, level: float = 0.95,
          store: ResultsStore | None = None, **options: object) -> ScoreResult:
    """Score ``model`` on ``benchmark`` (``options`` as :func:`score_with_selection`'s: metric, weights, seed, layers,
    device, batch_size, progress and the extraction options, as ``options=ExtractionOptions(...)`` or keywords); store
    the result when ``store`` is a :class:`ResultsStore`. ``bootstrap`` > 0 adds a ``level`` percentile interval from that many replicates over stimuli (and
    subjects) (:func:`brainbench.scoring.inference.bootstrap_interval`). ``bootstrap`` (0, or at least 2) and ``level``
    (strictly between 0 and 1) are checked before any work (ConfigError)."""
    from ..checks import check_count, check_level
    from .inference import with_interval

    if bootstrap:
        check_count(bootstrap, "bootstrap replicates", minimum=2, hint="0 for no interval; 1000 is usual")
    check_level(level)
    result, selection = score_with_selection(model, benchmark, **options)
    if bootstrap:
        result = with_interval(result, selection, n_boot=bootstrap, level=level)
    if store is not None:
        store.add(result)
    return result


def score_with_selection(
    model: str | Model,
    benchmark: str,
    *,
    metric: str | None = None,
    weights: str | None = None,
    seed: int = 0,
    layers: Sequence[str] | str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    options: ExtractionOptions | None = None,
    **extraction: object,
) -> tuple[ScoreResult, ResamplingBasis]:
    """The score of ``model`` on ``benchmark``, and the :class:`~brainbench.scoring.inference.ResamplingBasis` (the chosen layers'
    held-out data) that intervals and paired tests resample: :func:`score` without the interval and the store
    (``evaluate`` is its old name).

    The layer is selected on the mean training-split score over all scoring units of the benchmark
    (neuroids for encoding, subject RDMs for RSA; one layer committed per benchmark), or per subject
    (``layer_selection = "subject"``); the reported score is that layer's held-out score, per subject
    (the mean, or median, over its units in each split, then the mean over splits) and aggregated
    (mean over subjects), beside the ceiling of :mod:`brainbench.scoring.targets` (aggregated alike).
    ``layers`` takes names, globs and ``depth:LO-HI`` ranges, and combinations ``"a+b"`` of layer names:
    one candidate of both layers' features side by side (:func:`~brainbench.data.assembly.combine_layers`; a
    banded metric fits one regularisation per layer), scored beside its parts. The extraction options
    (:class:`~brainbench.extraction.options.ExtractionOptions`: ``tokens``, ``reduce``, ``memory_limit``, ``cache``,
    and ``device`` and ``batch_size``) come as ``options=`` or as keywords, and go to the model's extraction. Layers
    whose features repeat another candidate's are scored once.

    The steps, each a function below: check the request, resolve the benchmark, prepare the target and its
    ceiling, extract the candidates' features, score every candidate layer, choose the layer(s), score the
    subjects against the ceiling, and write the result and the selection.

    Raises UnknownNameError for a benchmark, metric, model, weights tag or layer that does not exist, and
    ConfigError for an unknown extraction option or one out of range (a device this machine lacks, batch size < 1,
    a seed outside 0..2**32-1, a layer combination with an empty part), each before the work it would spoil.
    """
    requested, options = _check_request(model, layers, seed, ExtractionOptions.of(
        options, device=device, batch_size=batch_size, **extraction))
    spec, metric_obj, dataset = _resolve_benchmark(benchmark, metric)
    model_obj = _model(model, weights, seed)
    stimuli, target, splits, ceiling = _prepare_target(spec, dataset, metric_obj)
    _check_leakage(model_obj, spec, target.ids)
    features, combos, identity = _extract_candidates(model_obj, stimuli.subset(target.ids), requested, options, progress)
    per_layer, stats = _score_layers(features, combos, metric_obj, target, splits, spec.layer_selection, options.device)
    chosen = _choose(per_layer, spec.layer_selection)
    scored = _score_subjects(per_layer, chosen, spec.aggregate, target.unit_dim, ceiling)
    notes = _notes(spec, target, ceiling, scored, chosen)
    result = _result(model_obj, seed, spec, metric_obj, stimuli, ceiling, identity, scored, chosen, per_layer, stats,
                     target.unit_dim, notes, options.device)
    return result, _selection(spec, scored, chosen, per_layer, ceiling, notes[1], result, len(target.ids))


evaluate = score_with_selection  # the name before brainbench 0.2


def _check_request(model: object, layers: Sequence[str] | str | None, seed: object,
                   options: ExtractionOptions) -> tuple[list[str], ExtractionOptions]:
    """The requested layer specs (a list; empty: the model's candidates) and ``options`` on the device picked, after
    checking the model's type, the layers, the seed and the device (ConfigError), before any work."""
    from ..checks import check_seed
    from ..registry.contracts import Model

    if not isinstance(model, (str, Model)):
        raise ConfigError(f"model must be a registered name or a brainbench.Model, not {type(model).__name__}; wrap a "
                          "torch module with brainbench.wrap(module, preprocess, name=...)")
    layers = [layers] if isinstance(layers, str) else layers
    if layers is not None and not all(isinstance(name, str) for name in layers):
        raise ConfigError(f"layers must be names, globs or depth:LO-HI ranges (text); got {list(layers)!r}")
    for name in layers or ():
        if "+" in name and not all(part.strip() for part in name.split("+")):
            raise ConfigError(f"layer combination {name!r} has an empty part; write a+b with a layer on each side")
    check_seed(seed)
    return list(layers or ()), dataclasses.replace(options, device=pick_device(options.device))


def _model(model: str | Model, weights: str | None, seed: int) -> Model:
    """The registered model ``model`` with ``weights`` and ``seed``, or ``model`` itself when it is a Model."""
    from ..registry.entries import get_model

    return get_model(model, weights=weights, seed=seed) if isinstance(model, str) else model


def _resolve_benchmark(benchmark: str, metric: str | None) -> tuple[BenchmarkSpec, Metric, Dataset]:
    """The benchmark's spec (with ``metric`` instead of its own, if given), its metric and its dataset."""
    from ..registry.entries import get_dataset, get_metric

    from ..registry.contracts import ModelMetric

    spec = get_benchmark(benchmark)
    if metric:
        spec = with_metric(spec, metric)
    metric_obj = get_metric(spec.metric, **spec.metric_options)
    if isinstance(metric_obj, ModelMetric):
        raise ConfigError(f"metric {spec.metric!r} measures a model alone (images, no brain data), so it scores no "
                          f"benchmark; use `brainbench interpret` (or brainbench.get_metric({spec.metric!r})(model, "
                          "stimuli, layers))")
    return spec, metric_obj, get_dataset(spec.dataset)


def _prepare_target(spec: BenchmarkSpec, dataset: Dataset,
                    metric: Metric) -> tuple[StimulusSet, Target, list[Split], Ceiling]:
    """The dataset's stimuli, the target the metric scores (:func:`~brainbench.scoring.targets.prepare_target`), the
    benchmark's splits of its stimuli, and its ceiling; the ceiling's notes are warned (CeilingWarning)."""
    stimuli = dataset.stimulus_set()
    target = prepare_target(spec, dataset, stimuli, metric)
    splits = make_splits(spec.splits, len(target.ids), target.split_column)
    ceiling = ceilings(spec, target, splits)
    for note in ceiling.notes:
        warnings.warn(f"{spec.id}: {note}", CeilingWarning, stacklevel=4)
    return stimuli, target, splits, ceiling


def _check_leakage(model: Model, spec: BenchmarkSpec, ids: Sequence[str]) -> None:
    """Refuse to score a tuned model on stimuli it was tuned on (its training or validation stimuli) where they are
    this benchmark's: with the benchmark's own splits every stimulus is held out once, so those scores would measure
    what the model memorised, not what it predicts. A ConfigError that says how many and what to do instead."""
    tuned_on = getattr(model, "tuned_on", None)
    if not tuned_on or tuned_on.get("dataset") not in (None, spec.dataset):
        return
    seen = {str(s) for part in ("train", "val") for s in (tuned_on.get("stimulus_ids") or {}).get(part, [])}
    overlap = seen.intersection(map(str, ids))
    if overlap:
        name = getattr(getattr(model, "card", None), "name", "the model")
        raise ConfigError(
            f"{name} was tuned toward {tuned_on.get('benchmark')} on {len(seen)} stimuli of dataset "
            f"{spec.dataset!r}, and {len(overlap)} of them are stimuli that {spec.id} scores (its splits hold every "
            f"stimulus out once), so the score would measure what it learnt, not what it predicts. Its held-out score "
            f"on the stimuli it never saw is in its tuning record (brainbench tune list --json: held_out); score it on "
            f"a benchmark of other stimuli")


def _extract_candidates(model: Model, stimuli: StimulusSet, requested: list[str], options: ExtractionOptions,
                        progress: bool) -> tuple[Mapping[str, xr.DataArray], dict[str, list[str]], dict[str, Any]]:
    """The features of every requested layer (each part of an ``a+b`` combination once), the combinations (name ->
    parts), and the model's identity (weights hash and code) the features were computed with."""
    combos = {name: [part.strip() for part in name.split("+")] for name in requested if "+" in name}
    layers = [name for name in requested if name not in combos] + [p for parts in combos.values() for p in parts]
    # the model the features come from, read before any forward pass (a training-mode pass moves batch-norm
    # statistics): the extraction engine's own reading (one pass over a large model's state, not two), else now
    read_before = None if hasattr(model, "identity") else {"weights_hash": model.weights_hash(),
                                                           "code": model.code_versions()}
    features = model.extract(stimuli, list(dict.fromkeys(layers)) or None, progress=progress,
                             **_model_keywords(options))
    identity = getattr(getattr(features, "plan", None), "identity", None) or read_before or model.identity()
    return features, combos, identity


def _model_keywords(options: ExtractionOptions) -> dict[str, Any]:
    """What :meth:`brainbench.Model.extract` is called with: the batch size and the device always (as before the
    options object), and every other option set away from its default."""
    return {"batch_size": options.batch_size, "device": options.device, **options.keywords()}


def _score_layers(features: Mapping[str, xr.DataArray], combos: dict[str, list[str]], metric: Metric, target: Target,
                  splits: list[Split], selection: str,
                  device: str | None) -> tuple[dict[str, MetricResult], dict[str, dict[str, float]]]:
    """Per candidate layer (the features' layers, then the combinations), the metric's result and the features'
    statistics; one layer's features in memory at a time, a layer repeating another's shares its result, and
    held-out data is kept only for results that may still be chosen (``selection`` as :func:`_choose`'s mode)."""
    per_layer: dict[str, MetricResult] = {}
    stats: dict[str, dict[str, float]] = {}
    for layer in list(features) + list(combos):
        same = features.same_as(layer) if hasattr(features, "same_as") and layer not in combos else None
        if same:
            per_layer[layer], stats[layer] = per_layer[same], stats[same]
            continue
        values = combine_layers([features[p] for p in combos[layer]]) if layer in combos else features[layer]
        per_layer[layer] = metric(values, target.data, splits)
        stats[layer] = feature_statistics(values.values, device=device)
        leading = {id(per_layer[name]) for name in _choose(per_layer, selection).values()}
        for result in per_layer.values():  # (a repeated layer shares its original's result)
            if id(result) not in leading:
                result.held_out = None
    return per_layer, stats


@dataclass
class _Subjects:
    """Per subject, its score against the ceiling; per unit, the chosen layer's mean held-out score."""

    subjects_of: np.ndarray  # (unit,) each unit's subject, from the metric's result
    scores: dict[str, SubjectScore]
    per_split: list[list[float]]  # (subject, split) aggregated over the subject's units
    test_r: np.ndarray  # (unit,)
    untrusted: dict[str, str]  # subject -> why its ceiling may not divide its score


def _score_subjects(per_layer: dict[str, MetricResult], chosen: dict[str, str], aggregate_name: str, unit_dim: str,
                    ceiling: Ceiling) -> _Subjects:
    """Each subject's raw score on its chosen layer (its units aggregated per split, then the mean over splits), its
    ceiling and normalised score (:meth:`~brainbench.scoring.targets.Ceiling.apply`)."""
    subjects_of = next(iter(per_layer.values())).test["subject"].values.astype(str)
    aggregate = np.median if aggregate_name == "median" else np.mean
    unit_name = {"neuroid": "neuroids", "rdm": "subject RDMs"}.get(unit_dim, f"{unit_dim}s")
    out = _Subjects(subjects_of, {}, [], np.empty(len(subjects_of)), {})
    for subject, layer in chosen.items():
        mask = subjects_of == subject
        values = per_layer[layer].test.values[:, mask]  # (split, unit)
        out.test_r[mask] = values.mean(0)
        out.per_split.append([aggregate(row) for row in values])
        raw = float(np.mean(out.per_split[-1]))
        top, normalised, why = ceiling.apply(raw, mask, aggregate, unit_name)
        if why:
            out.untrusted[subject] = why
        out.scores[subject] = SubjectScore(raw=raw, ceiling=top, normalised=normalised, n_neuroids=int(mask.sum()),
                                           layer=layer)
    return out


def _notes(spec: BenchmarkSpec, target: Target, ceiling: Ceiling, scored: _Subjects,
           chosen: dict[str, str]) -> tuple[list[str], list[str]]:
    """(every note of the result, the ceiling's notes): the ceiling's, the untrusted subjects' (warned), pooling,
    Brain-Score's squared sign and per-subject layers."""
    trust_notes = _untrusted_notes(scored.untrusted, len(scored.scores))
    for note in trust_notes:
        warnings.warn(f"{spec.id}: {note}", CeilingWarning, stacklevel=4)
    ceiling_notes = list(ceiling.notes) + trust_notes
    notes = list(ceiling_notes)
    if spec.subjects == POOLED:
        notes.append(f"the subjects' {target.unit_dim}s are pooled into one population (as Brain-Score)")
    if ceiling.power == 2 and any(s.raw < 0 and s.normalised is not None for s in scored.scores.values()):
        notes.append("a raw score is negative, and the r^2 / ceiling rule squares its sign away (as Brain-Score does)")
    if spec.layer_selection == "subject":
        notes.append("layers were chosen per subject (on each subject's training scores): "
                     + ", ".join(f"{s}: {layer}" for s, layer in chosen.items()))
    return notes, ceiling_notes


def _result(model: Model, seed: int, spec: BenchmarkSpec, metric: Metric, stimuli: StimulusSet, ceiling: Ceiling,
            identity: dict[str, Any], scored: _Subjects, chosen: dict[str, str], per_layer: dict[str, MetricResult],
            stats: dict[str, dict[str, float]], unit_dim: str, notes: tuple[list[str], list[str]],
            device: str | None) -> ScoreResult:
    """The :class:`~brainbench.results.result.ScoreResult`: the benchmark's layer (the most subjects' choice), the
    subjects' scores and their means, every layer's train/test means, the per-unit values, and the provenance."""
    subjects = scored.scores
    first = next(iter(per_layer.values())).test
    normalised = [s.normalised for s in subjects.values()]
    unit_ids = first["neuroid_id"].values if unit_dim == "neuroid" else scored.subjects_of
    return ScoreResult(
        model=model.label,
        benchmark=spec.id,
        metric=spec.metric,
        layer=Counter(chosen.values()).most_common(1)[0][0],  # the benchmark's layer, or the most subjects' layer
        raw=float(np.mean([s.raw for s in subjects.values()])),
        ceiling=float(np.mean([s.ceiling for s in subjects.values()])) if ceiling.per_unit is not None else None,
        normalised=float(np.mean(normalised)) if None not in normalised else None,
        ceiling_lower=float(ceiling.lower.mean()) if ceiling.lower is not None else None,
        notes=notes[0],
        split_error=_split_error(np.mean(scored.per_split, axis=0)),
        unit=unit_dim,
        subjects=subjects,
        layers={layer: LayerScore(train=float(r.train.mean()), test=float(r.test.mean()), **stats[layer])
                for layer, r in per_layer.items()},
        neuroids={
            "neuroid_id": unit_ids.astype(str).tolist(),
            "subject": scored.subjects_of.tolist(),
            "test_r": scored.test_r.round(6).tolist(),
            "reliability": None if ceiling.reliability is None else np.round(ceiling.reliability, 6).tolist(),
            **({"ceiling_lower": np.round(ceiling.lower, 6).tolist()} if ceiling.lower is not None else {}),
        },
        provenance=_provenance(model, seed, spec, metric, stimuli, ceiling, identity, device),
    )


def _provenance(model: Model, seed: int, spec: BenchmarkSpec, metric: Metric, stimuli: StimulusSet, ceiling: Ceiling,
                identity: dict[str, Any], device: str | None) -> Provenance:
    """Where the score comes from: the model (name, weights, the weights hash and code its features were computed
    with), the benchmark, metric and brainbench versions, the split and model seeds, the stimuli, the ceiling rule,
    the time and the device."""
    return Provenance(
        model=model.name, weights=model.weights, weights_hash=identity["weights_hash"], benchmark=spec.id,
        benchmark_version=spec.version, metric=spec.metric, metric_version=metric.card.version,
        brainbench_version=__version__, split_seed=spec.splits.seed, model_seed=getattr(model, "seed", seed),
        stimulus_set=stimuli.identifier, ceiling_rule=ceiling.rule,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), device=device, code=identity["code"],
    )


def _selection(spec: BenchmarkSpec, scored: _Subjects, chosen: dict[str, str], per_layer: dict[str, MetricResult],
               ceiling: Ceiling, ceiling_notes: list[str], result: ScoreResult, n_stimuli: int) -> ResamplingBasis:
    """What intervals and paired tests resample: each subject's chosen layer's held-out data for its units, its raw
    score and (where the score has a normalised value) its ceiling."""
    from .inference import ResamplingBasis

    subjects = scored.scores
    held_out = {subject: per_layer[layer].held_out for subject, layer in chosen.items()}
    return ResamplingBasis(
        metric=spec.metric, benchmark=spec.id, subjects=list(subjects),
        held_out=[None if held_out[s] is None else held_out[s].units(scored.subjects_of == s) for s in subjects],
        raw=np.array([s.raw for s in subjects.values()]),
        ceiling=None if result.normalised is None else np.array([s.ceiling for s in subjects.values()]),
        ceiling_power=ceiling.power, ceiling_notes=ceiling_notes,
        aggregate=spec.aggregate, n_stimuli=n_stimuli)


def _untrusted_notes(untrusted: dict[str, str], n_subjects: int) -> list[str]:
    """One note on the subjects whose ceiling is not trusted (:func:`brainbench.scoring.ceiling.why_untrusted`), if any;
    subjects with the same reason (e.g. a group's Nili bounds) share it."""
    if not untrusted:
        return []
    tail = "; normalised is None and the raw score stands, but data this unreliable cannot tell models apart"
    if n_subjects == 1:
        return [f"the data are too unreliable to normalise: {next(iter(untrusted.values()))}{tail}"]
    by_reason: dict[str, list[str]] = {}
    for subject, why in untrusted.items():
        by_reason.setdefault(why, []).append(subject)
    whose = "; ".join(f"{'all subjects' if len(names) == n_subjects else ', '.join(names)}: {why}"
                      for why, names in by_reason.items())
    rest = ("" if len(untrusted) == n_subjects else
            "; the benchmark has no normalised score either, since a mean over the other subjects would score a "
            "different set of subjects")
    return [f"the data of {len(untrusted)} of {n_subjects} subjects are too unreliable to normalise ({whose})"
            f"{rest}{tail}"]


def _split_error(per_split: np.ndarray) -> float | None:
    """Standard error of the mean over splits, as Brain-Score reports it (std with ddof 0); none for one split."""
    return float(per_split.std() / np.sqrt(len(per_split))) if len(per_split) > 1 else None


def _choose(per_layer: dict[str, MetricResult], mode: str) -> dict[str, str]:
    """Subject -> chosen layer: the best mean training score over all units (``mode = "benchmark"``) or over the
    subject's units (``"subject"``); the first layer wins ties."""
    layers = list(per_layer)
    subjects_of = per_layer[layers[0]].train["subject"].values.astype(str)
    best = max(layers, key=lambda layer: float(per_layer[layer].train.mean()))
    return {subject: best if mode == "benchmark" else max(
                layers, key=lambda layer: float(per_layer[layer].train.values[:, subjects_of == subject].mean()))
            for subject in dict.fromkeys(subjects_of.tolist())}
