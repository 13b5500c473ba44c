"""score(model, benchmark): extraction -> metric per layer on fixed splits -> layer choice -> held-out score."""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._version import __version__
from ..data.assembly import combine_layers
from ..registry.catalog import get_benchmark, with_metric
from ..device import pick_device
from ..errors import CeilingWarning
from ..encoding.feature_stats import feature_statistics
from ..results.result import LayerScore, Provenance, ScoreResult, SubjectScore
from .splits import make_splits
from .targets import POOLED, ceilings, prepare_target

if TYPE_CHECKING:
    from ..registry.contracts import MetricResult, Model
    from .inference import Selection
    from ..results.store import ResultsStore

__all__ = ["evaluate", "score"]


def score(model: str | Model, benchmark: str, *, bootstrap: int = 0, level: float = 0.95,
          store: ResultsStore | None = None, **options: object) -> ScoreResult:
    """Score ``model`` on ``benchmark`` (``options`` as :func:`evaluate`'s: metric, weights, seed, layers, device,
    batch_size, progress and extraction options); store the result when ``store`` is a :class:`ResultsStore`.
    ``bootstrap`` > 0 adds a ``level`` percentile interval from that many replicates over stimuli (and
    subjects) (:func:`brainbench.scoring.inference.bootstrap_interval`). ``bootstrap`` (0, or at least 2) and ``level``
    (strictly between 0 and 1) are checked before any work (ConfigError)."""
    from ..checks import check_count, check_level
    from .inference import with_interval

    if bootstrap:
        check_count(bootstrap, "bootstrap replicates", minimum=2, hint="0 for no interval; 1000 is usual")
    check_level(level)
    result, selection = evaluate(model, benchmark, **options)
    if bootstrap:
        result = with_interval(result, selection, n_boot=bootstrap, level=level)
    if store is not None:
        store.add(result)
    return result


def evaluate(
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
    **extraction: object,
) -> tuple[ScoreResult, Selection]:
    """The score of ``model`` on ``benchmark``, and the :class:`~brainbench.scoring.inference.Selection` (the chosen layers'
    held-out data) that intervals and paired tests resample.

    The layer is selected on the mean training-split score over all scoring units of the benchmark
    (neuroids for encoding, subject RDMs for RSA; one layer committed per benchmark), or per subject
    (``layer_selection = "subject"``); the reported score is that layer's held-out score, per subject
    (the mean, or median, over its units in each split, then the mean over splits) and aggregated
    (mean over subjects), beside the ceiling of :mod:`brainbench.scoring.targets` (aggregated alike).
    ``layers`` takes names, globs and ``depth:LO-HI`` ranges, and combinations ``"a+b"`` of layer names:
    one candidate of both layers' features side by side (:func:`~brainbench.data.assembly.combine_layers`; a
    banded metric fits one regularisation per layer), scored beside its parts. ``extraction`` options
    (``tokens``, ``reduce``, ``memory_limit``, ``cache``) go to the model's extraction. Layers whose
    features repeat another candidate's are scored once.

    Raises UnknownNameError for a benchmark, metric, model, weights tag or layer that does not exist, and
    ConfigError for options out of range (a device this machine lacks, batch size < 1, a seed outside
    0..2**32-1, a layer combination with an empty part), each before the work it would spoil.
    """
    from ..registry.contracts import Model
    from ..errors import ConfigError
    from ..extraction.plan import check_options
    from .inference import Selection
    from ..registry.entries import get_dataset, get_metric, get_model

    if not isinstance(model, (str, Model)):
        raise ConfigError(f"model must be a registered name or a brainbench.Model, not {type(model).__name__}; wrap a "
                          "torch module with brainbench.wrap(module, preprocess, name=...)")
    layers = [layers] if isinstance(layers, str) else layers
    if layers is not None and not all(isinstance(name, str) for name in layers):
        raise ConfigError(f"layers must be names, globs or depth:LO-HI ranges (text); got {list(layers)!r}")
    for name in layers or ():
        if "+" in name and not all(part.strip() for part in name.split("+")):
            raise ConfigError(f"layer combination {name!r} has an empty part; write a+b with a layer on each side")
    resolved_device = pick_device(device)
    check_options(batch_size=batch_size, seed=seed, **{k: v for k, v in extraction.items()
                                                       if k in ("tokens", "reduce", "memory_limit") and v is not None})
    spec = get_benchmark(benchmark)
    if metric:
        spec = with_metric(spec, metric)
    metric_obj = get_metric(spec.metric, **spec.metric_options)
    dataset = get_dataset(spec.dataset)
    model_obj = get_model(model, weights=weights, seed=seed) if isinstance(model, str) else model

    stimuli = dataset.stimulus_set()
    target = prepare_target(spec, dataset, stimuli, metric_obj)
    splits = make_splits(spec.splits, len(target.ids), target.split_column)
    ceiling = ceilings(spec, target, splits)
    for note in ceiling.notes:
        warnings.warn(f"{spec.id}: {note}", CeilingWarning, stacklevel=3)

    options = {k: v for k, v in extraction.items() if v is not None}
    combos = {name: [part.strip() for part in name.split("+")] for name in layers or () if "+" in name}
    requested = [name for name in layers or () if name not in combos] + [p for parts in combos.values() for p in parts]
    # the model the features come from, read before any forward pass (a training-mode pass moves batch-norm
    # statistics): the extraction engine's own reading (one pass over a large model's state, not two), else now
    read_before = None if hasattr(model_obj, "identity") else {"weights_hash": model_obj.weights_hash(),
                                                               "code": model_obj.code_versions()}
    features = model_obj.extract(stimuli.subset(target.ids), list(dict.fromkeys(requested)) or None,
                                 batch_size=batch_size, device=resolved_device, progress=progress, **options)
    identity = getattr(getattr(features, "plan", None), "identity", None) or read_before or model_obj.identity()
    weights_hash, code = identity["weights_hash"], identity["code"]
    candidate = list(features) + list(combos)
    per_layer, stats = {}, {}
    for layer in candidate:  # one layer's features in memory at a time
        same = features.same_as(layer) if hasattr(features, "same_as") and layer not in combos else None
        if same:
            per_layer[layer], stats[layer] = per_layer[same], stats[same]
            continue
        values = combine_layers([features[p] for p in combos[layer]]) if layer in combos else features[layer]
        per_layer[layer] = metric_obj(values, target.data, splits)
        stats[layer] = feature_statistics(values.values, device=resolved_device)
        leading = {id(per_layer[name]) for name in _choose(per_layer, spec.layer_selection).values()}
        for result in per_layer.values():  # held-out data is kept only for results that may still be chosen
            if id(result) not in leading:  # (a repeated layer shares its original's result)
                result.held_out = None
    layer_scores = {
        layer: LayerScore(train=float(r.train.mean()), test=float(r.test.mean()), **stats[layer])
        for layer, r in per_layer.items()
    }
    first = per_layer[candidate[0]].test
    subjects_of = first["subject"].values.astype(str)  # units' subjects, from the metric's result
    aggregate = np.median if spec.aggregate == "median" else np.mean
    chosen = _choose(per_layer, spec.layer_selection)
    best = Counter(chosen.values()).most_common(1)[0][0]  # the benchmark's layer, or the most subjects' layer
    test_r = np.empty(len(subjects_of))
    subjects, per_split, untrusted = {}, [], {}
    unit_name = {"neuroid": "neuroids", "rdm": "subject RDMs"}.get(target.unit_dim, f"{target.unit_dim}s")
    for subject, layer in chosen.items():
        mask = subjects_of == subject
        values = per_layer[layer].test.values[:, mask]  # (split, unit)
        test_r[mask] = values.mean(0)
        per_split.append([aggregate(row) for row in values])
        raw = float(np.mean(per_split[-1]))
        top, normalised_score, why = ceiling.apply(raw, mask, aggregate, unit_name)
        if why:
            untrusted[subject] = why
        subjects[subject] = SubjectScore(raw=raw, ceiling=top, normalised=normalised_score,
                                         n_neuroids=int(mask.sum()), layer=layer)
    trust_notes = _untrusted_notes(untrusted, len(subjects))
    for note in trust_notes:
        warnings.warn(f"{spec.id}: {note}", CeilingWarning, stacklevel=3)
    ceiling_notes = list(ceiling.notes) + trust_notes
    notes = list(ceiling_notes)
    if spec.subjects == POOLED:
        notes.append(f"the subjects' {target.unit_dim}s are pooled into one population (as Brain-Score)")
    if ceiling.power == 2 and any(s.raw < 0 and s.normalised is not None for s in subjects.values()):
        notes.append("a raw score is negative, and the r^2 / ceiling rule squares its sign away (as Brain-Score does)")
    if spec.layer_selection == "subject":
        notes.append("layers were chosen per subject (on each subject's training scores): "
                     + ", ".join(f"{s}: {layer}" for s, layer in chosen.items()))
    normalised = [s.normalised for s in subjects.values()]
    unit_ids = first["neuroid_id"].values if target.unit_dim == "neuroid" else subjects_of
    result = ScoreResult(
        model=model_obj.label,
        benchmark=spec.id,
        metric=spec.metric,
        layer=best,
        raw=float(np.mean([s.raw for s in subjects.values()])),
        ceiling=float(np.mean([s.ceiling for s in subjects.values()])) if ceiling.per_unit is not None else None,
        normalised=float(np.mean(normalised)) if None not in normalised else None,
        ceiling_lower=float(ceiling.lower.mean()) if ceiling.lower is not None else None,
        notes=notes,
        split_error=_split_error(np.mean(per_split, axis=0)),
        unit=target.unit_dim,
        subjects=subjects,
        layers=layer_scores,
        neuroids={
            "neuroid_id": unit_ids.astype(str).tolist(),
            "subject": subjects_of.tolist(),
            "test_r": test_r.round(6).tolist(),
            "reliability": None if ceiling.reliability is None else np.round(ceiling.reliability, 6).tolist(),
            **({"ceiling_lower": np.round(ceiling.lower, 6).tolist()} if ceiling.lower is not None else {}),
        },
        provenance=Provenance(
            model=model_obj.name,
            weights=model_obj.weights,
            weights_hash=weights_hash,
            benchmark=spec.id,
            benchmark_version=spec.version,
            metric=spec.metric,
            metric_version=metric_obj.card.version,
            brainbench_version=__version__,
            split_seed=spec.splits.seed,
            model_seed=getattr(model_obj, "seed", seed),
            stimulus_set=stimuli.identifier,
            ceiling_rule=ceiling.rule,
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            device=resolved_device,
            code=code,
        ),
    )
    held_out = {subject: per_layer[layer].held_out for subject, layer in chosen.items()}
    selection = Selection(
        metric=spec.metric, benchmark=spec.id, subjects=list(subjects),
        held_out=[None if held_out[s] is None else held_out[s].units(subjects_of == s) for s in subjects],
        raw=np.array([s.raw for s in subjects.values()]),
        ceiling=None if result.normalised is None else np.array([s.ceiling for s in subjects.values()]),
        ceiling_power=ceiling.power, ceiling_notes=ceiling_notes,
        aggregate=spec.aggregate, n_stimuli=len(target.ids))
    return result, selection


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
