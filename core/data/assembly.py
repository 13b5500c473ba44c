"""Assemblies: xarray DataArrays with dims ``(presentation, neuroid)`` (optional ``time_bin``).

Neural assemblies carry ``stimulus_id`` (and ``repetition``) on presentations and
``neuroid_id``, ``region`` and ``subject`` on neuroids, as plain 1-D coords (Brain-Score's
MultiIndex levels, flattened). Ids are strings (:func:`brainbench.data.tables.id_strings`).

Every trial given is a trial used: a ``(stimulus_id, repetition)`` pair names one trial. Where pairs repeat
(e.g. two sessions that each number their repetitions 0, 1), :func:`neural_assembly` keeps every trial and
renumbers the trials of the stimuli concerned 0, 1, ... in the order given (the given numbers stay in the
coord ``repetition_given``), with a :class:`~brainbench.errors.DataWarning` naming the pairs; an assembly
built otherwise with repeated pairs is refused by :func:`validate_assembly` and
:func:`trials_by_repetition`, so averaging, split-half ceilings and crossnobis always see the same trials.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import AssemblyError, DataWarning

if TYPE_CHECKING:
    import xarray as xr

    from .stimuli import StimulusSet

__all__ = ["align_features", "as_numpy", "average_repetitions", "combine_layers", "neural_assembly", "number_trials",
           "repeated_trials", "select", "split_scores", "trials_by_repetition", "validate_assembly"]

PRESENTATION, NEUROID, TIME_BIN = "presentation", "neuroid", "time_bin"
REQUIRED = {
    "neural": {PRESENTATION: ("stimulus_id",), NEUROID: ("neuroid_id", "region", "subject")},
    "features": {PRESENTATION: ("stimulus_id",), NEUROID: ("layer", "unit")},
}


def neural_assembly(
    values: np.ndarray,
    *,
    stimulus_id: Sequence[str],
    neuroid_id: Sequence[str],
    region: Sequence[str] | str,
    subject: Sequence[str] | str,
    repetition: Sequence[int] | None = None,
    presentation_coords: dict[str, Sequence[object]] | None = None,
    neuroid_coords: dict[str, Sequence[object]] | None = None,
    attrs: dict[str, object] | None = None,
) -> xr.DataArray:
    """Build a validated neural assembly from a ``(presentation, neuroid)`` array.

    Ids become strings (:func:`brainbench.data.tables.id_strings`: numbers in decimal, ``7.0`` as ``"7"``);
    ``repetition`` must be whole numbers. Repeated ``(stimulus_id, repetition)`` pairs keep every trial: the
    trials of those stimuli are renumbered in the order given, the given numbers kept as ``repetition_given``,
    and a :class:`~brainbench.errors.DataWarning` says so (module docstring). Raises
    :class:`~brainbench.errors.AssemblyError` for anything :func:`validate_assembly` refuses."""
    import xarray as xr

    from .tables import id_strings

    values = np.asarray(values)
    if values.ndim != 2:
        raise AssemblyError(f"a neural assembly is built from a (presentation, neuroid) array; got shape {values.shape}")
    n_neuroids = values.shape[1]
    as_list = lambda v: [v] * n_neuroids if isinstance(v, str) else list(v)  # noqa: E731
    stimulus_id = id_strings(stimulus_id, "stimulus ids")
    pres = {"stimulus_id": (PRESENTATION, stimulus_id)}
    if repetition is not None:
        given = _whole_numbers(repetition, "repetition")
        renumbered = _renumber_repeated(stimulus_id, given)
        pres["repetition"] = (PRESENTATION, given if renumbered is None else renumbered)
        if renumbered is not None:
            pres["repetition_given"] = (PRESENTATION, given)
    pres.update({k: (PRESENTATION, list(v)) for k, v in (presentation_coords or {}).items()})
    neur = {
        "neuroid_id": (NEUROID, id_strings(neuroid_id, "neuroid ids")),
        "region": (NEUROID, id_strings(as_list(region), "regions")),
        "subject": (NEUROID, id_strings(as_list(subject), "subjects")),
    }
    neur.update({k: (NEUROID, list(v)) for k, v in (neuroid_coords or {}).items()})
    try:
        assembly = xr.DataArray(values, dims=(PRESENTATION, NEUROID), coords={**pres, **neur}, attrs=attrs or {})
    except ValueError as exc:
        raise AssemblyError(f"cannot build assembly of shape {values.shape}: {exc}") from None
    return validate_assembly(assembly)


def validate_assembly(
    assembly: xr.DataArray,
    kind: Literal["neural", "features"] = "neural",
    stimulus_set: StimulusSet | None = None,
    *,
    allow_nan: bool = False,
) -> xr.DataArray:
    """Check dims, coords, values and stimulus ids; raise one error listing every problem.

    ``allow_nan`` admits NaN (not infinity) for raw trials padded to a common repetition count.
    """
    from .tables import id_strings

    problems: list[str] = []
    dims = tuple(assembly.dims)
    if dims[:2] != (PRESENTATION, NEUROID) or (len(dims) == 3 and dims[2] != TIME_BIN) or len(dims) > 3:
        problems.append(f"dims are {dims}; expected ('presentation', 'neuroid'[, 'time_bin'])")
    for dim, names in REQUIRED[kind].items():
        for name in names:
            if name not in assembly.coords:
                problems.append(f"coord {name!r} on {dim!r} is missing")
            elif dim in assembly.dims and assembly.coords[name].dims != (dim,):
                problems.append(f"coord {name!r} must lie along {dim!r}, not {assembly.coords[name].dims}")
    if not problems:
        values = np.asarray(assembly.values)
        if not np.issubdtype(values.dtype, np.number):
            problems.append(f"values have dtype {values.dtype}; expected numbers")
        else:
            bad = np.isinf(values) if allow_nan else ~np.isfinite(values)
            if bad.any():
                where = np.argwhere(bad)[0]
                problems.append(
                    f"{int(bad.sum())} values are NaN or infinite (first at presentation {where[0]}, neuroid {where[1]}); "
                    "drop or impute them before scoring"
                )
        if kind == "neural":
            ids = assembly["neuroid_id"].values.tolist()
            repeated = sorted(n for n, count in Counter(ids).items() if count > 1)
            if repeated:
                subjects = assembly["subject"].values.tolist()
                where = "; ".join(f"{n!r} ({sum(i == n for i in ids)}x, subjects "
                                  f"{sorted({str(s) for i, s in zip(ids, subjects) if i == n})})" for n in repeated[:5])
                problems.append(f"{len(repeated)} neuroid_id values repeat: {where}; each neuroid needs its own id "
                                "(where subjects number their neuroids alike, prefix the ids with the subject)")
            if "repetition" not in assembly.coords:
                stim = assembly["stimulus_id"].values
                if len(set(stim.tolist())) != len(stim):
                    problems.append("stimulus_id repeats but there is no 'repetition' coord to tell the trials apart")
            else:
                pairs = repeated_trials(assembly)
                if pairs:
                    problems.append(_repeated_message(pairs))
        if stimulus_set is not None:
            known = set(stimulus_set.ids)
            missing = sorted(set(id_strings(assembly["stimulus_id"].values, "stimulus ids")) - known)
            if missing:
                problems.append(
                    f"{len(missing)} stimulus ids are not in stimulus set {stimulus_set.identifier!r}, e.g. {missing[:5]}"
                )
    if problems:
        name = assembly.name or assembly.attrs.get("identifier", "assembly")
        raise AssemblyError(f"invalid {kind} assembly {name!r}:\n  - " + "\n  - ".join(problems))
    return assembly


def select(assembly: xr.DataArray, region: str | Sequence[str] | None = None,
           subjects: Sequence[str] | None = None) -> xr.DataArray:
    """The neuroids (or, of an RDM assembly, the RDMs: whichever dim carries ``region``) of the given region(s) and
    subject(s); an unknown region or subject is an error naming those that exist."""
    dim = assembly["region"].dims[0]
    mask = np.ones(assembly.sizes[dim], dtype=bool)
    for coord, wanted in (("region", region), ("subject", subjects)):
        if wanted is None or wanted == "all":
            continue
        wanted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
        values = assembly[coord].values.astype(str)
        unknown = sorted(set(wanted) - set(values.tolist()))
        if unknown:
            raise AssemblyError(f"no {dim}s with {coord} {unknown}; the assembly has {sorted(set(values.tolist()))}")
        mask &= np.isin(values, wanted)
    return assembly.isel({dim: mask})


def average_repetitions(assembly: xr.DataArray) -> xr.DataArray:
    """Mean over trials of each stimulus (ignoring NaN padding), stimuli in first-seen order."""
    if "repetition" not in assembly.coords:
        return assembly
    stim = assembly["stimulus_id"].values.astype(str)
    order, inverse = np.unique(stim, return_inverse=True)
    first = np.full(len(order), len(stim))
    np.minimum.at(first, inverse, np.arange(len(stim)))
    rank = np.argsort(first)
    values = np.asarray(assembly.values, dtype=float)
    sums = np.zeros((len(order),) + values.shape[1:])
    counts = np.zeros((len(order),) + values.shape[1:])
    finite = np.isfinite(values)
    np.add.at(sums, inverse, np.where(finite, values, 0.0))
    np.add.at(counts, inverse, finite)
    with np.errstate(invalid="ignore"):
        mean = (sums / counts)[rank]
    keep = assembly.isel({PRESENTATION: first[rank]}).drop_vars("repetition")
    return keep.copy(data=mean)


def trials_by_repetition(assembly: xr.DataArray) -> tuple[list[str], np.ndarray]:
    """Reshape trials to ``(repetition, stimulus, neuroid)``, NaN where a stimulus has fewer trials; stimuli in
    first-seen order. Every trial lands in its own cell: repeated ``(stimulus_id, repetition)`` pairs, which would
    overwrite one another, are an :class:`~brainbench.errors.AssemblyError` naming them."""
    if "repetition" not in assembly.coords:
        raise AssemblyError("the assembly has no 'repetition' coord, so trial-to-trial reliability cannot be estimated")
    pairs = repeated_trials(assembly)
    if pairs:
        raise AssemblyError(_repeated_message(pairs))
    stim = assembly["stimulus_id"].values.astype(str)
    reps = assembly["repetition"].values.astype(int)
    ids = list(dict.fromkeys(stim.tolist()))
    index = {s: i for i, s in enumerate(ids)}
    rep_values = sorted(set(reps.tolist()))
    rep_index = {r: i for i, r in enumerate(rep_values)}
    out = np.full((len(rep_values), len(ids), assembly.sizes[NEUROID]), np.nan)
    out[[rep_index[r] for r in reps], [index[s] for s in stim]] = np.asarray(assembly.values, dtype=float)
    return ids, out


def number_trials(stimulus_id: Sequence[str]) -> np.ndarray | None:
    """Repetition numbers of trials identified only by their stimulus: each stimulus's trials 0, 1, ... in the
    order given; ``None`` where no stimulus occurs twice (one trial each, nothing to number)."""
    ids = list(stimulus_id)
    if len(set(ids)) == len(ids):
        return None
    seen: Counter[str] = Counter()
    numbers = np.empty(len(ids), dtype=np.int64)
    for i, s in enumerate(ids):
        numbers[i] = seen[s]
        seen[s] += 1
    return numbers


def repeated_trials(assembly: xr.DataArray) -> dict[tuple[str, int], int]:
    """``(stimulus_id, repetition)`` pairs that name more than one trial, with their counts (empty without a
    ``repetition`` coord)."""
    if "repetition" not in assembly.coords:
        return {}
    pairs = Counter(zip(assembly["stimulus_id"].values.astype(str).tolist(), assembly["repetition"].values.tolist()))
    return {(s, int(r)): count for (s, r), count in pairs.items() if count > 1}


def _repeated_message(pairs: dict[tuple[str, int], int]) -> str:
    shown = ", ".join(f"({s!r}, {r}) {count}x" for (s, r), count in list(pairs.items())[:5])
    return (f"{len(pairs)} (stimulus_id, repetition) pairs name more than one trial: {shown}; a split-half ceiling or "
            "crossnobis would see only one of each. Number each stimulus's trials apart (e.g. across sessions), or "
            "build the assembly with brainbench.data.assembly.neural_assembly, which renumbers them keeping every trial")


def _whole_numbers(values: Sequence[object], what: str) -> np.ndarray:
    """``values`` as int64, or an :class:`AssemblyError` naming the values that are not whole numbers."""
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    try:
        numbers = array.astype(np.float64)
    except (TypeError, ValueError):
        numbers = np.array([_number(v) for v in array.ravel().tolist()], dtype=np.float64)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        raise AssemblyError(f"{what} must be whole numbers; {int(bad.sum())} of {len(numbers)} are not, e.g. "
                            f"{array[bad][:5].tolist()}")
    return numbers.astype(np.int64)


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _renumber_repeated(stimulus_id: list[str], repetition: np.ndarray) -> np.ndarray | None:
    """Repetition numbers with every repeated ``(stimulus_id, repetition)`` pair resolved: the trials of the stimuli
    concerned numbered 0, 1, ... in the order given, with a :class:`DataWarning`; ``None`` where no pair repeats."""
    if len(stimulus_id) != len(repetition):
        raise AssemblyError(f"{len(stimulus_id)} stimulus ids but {len(repetition)} repetition numbers; give one per trial")
    pairs = Counter(zip(stimulus_id, repetition.tolist()))
    repeated = {(s, int(r)): count for (s, r), count in pairs.items() if count > 1}
    if not repeated:
        return None
    concerned = {s for s, _ in repeated}
    out = repetition.copy()
    rows = [i for i, s in enumerate(stimulus_id) if s in concerned]
    out[rows] = number_trials([stimulus_id[i] for i in rows])
    shown = ", ".join(f"({s!r}, {r}) {count}x" for (s, r), count in list(repeated.items())[:5])
    warnings.warn(DataWarning(
        f"{len(repeated)} (stimulus_id, repetition) pairs name more than one trial ({shown}), e.g. sessions that each "
        f"number their repetitions from 0: every trial is kept, and the {len(rows)} trials of the {len(concerned)} "
        "stimuli concerned are renumbered 0, 1, ... in the order given (the given numbers are in the coord "
        "'repetition_given')"), stacklevel=3)
    return out


def align_features(features: xr.DataArray, stimulus_ids: Sequence[object]) -> np.ndarray:
    """Feature rows in the order of ``stimulus_ids`` (aligned by id, never by position); an error names stimuli
    without features, or features that are NaN or infinite (a model that overflowed, or an input it cannot take)."""
    index = {str(s): i for i, s in enumerate(features["stimulus_id"].values)}
    if len(index) < features.sizes[PRESENTATION]:
        repeated = sorted(s for s, count in Counter(map(str, features["stimulus_id"].values)).items() if count > 1)
        raise AssemblyError(f"features repeat {len(repeated)} stimulus ids, e.g. {repeated[:5]}; each stimulus needs "
                            "one row of features (extract them from a stimulus set, whose ids are unique)")
    wanted = [str(s) for s in stimulus_ids]
    missing = [s for s in wanted if s not in index]
    if missing:
        raise AssemblyError(f"{len(missing)} target stimuli have no features, e.g. {missing[:5]}")
    rows = np.asarray(features.values)[[index[s] for s in wanted]]
    finite = np.isfinite(rows.reshape(len(rows), -1)).all(1)
    if not finite.all():
        layer = str(features["layer"].values[0]) if "layer" in features.coords and features.sizes.get(NEUROID) else "?"
        raise AssemblyError(
            f"features of layer {layer!r} are NaN or infinite for {int((~finite).sum())} of {len(rows)} stimuli, e.g. "
            f"{[wanted[i] for i in np.flatnonzero(~finite)[:5]]}; the model overflowed or cannot take these inputs "
            "(check its preprocessing, or score other layers with --layers)")
    return rows


def combine_layers(parts: Sequence[xr.DataArray]) -> xr.DataArray:
    """Several layers' features side by side as one candidate, ``"a+b"``: its neuroids keep their ``layer``
    coord, so a banded metric sees one band per layer and any other metric the concatenated features."""
    import xarray as xr

    names = [str(p.attrs.get("layer", "?")) for p in parts]
    ids = parts[0]["stimulus_id"].values
    if any(not np.array_equal(p["stimulus_id"].values, ids) for p in parts[1:]):
        raise AssemblyError(f"layers {names} were extracted for different stimuli and cannot be combined")
    flat = [np.asarray(p.values).reshape(len(ids), -1) for p in parts]
    layer = np.concatenate([np.full(f.shape[1], n, dtype=object) for f, n in zip(flat, names, strict=True)])
    attrs = {**parts[0].attrs, "layer": "+".join(names), "depth": max(p.attrs.get("depth", 0.0) for p in parts),
             "same_as": ""}
    return xr.DataArray(np.concatenate(flat, axis=1), dims=(PRESENTATION, NEUROID), attrs=attrs,
                        coords={"stimulus_id": (PRESENTATION, ids), "unit": (NEUROID, np.arange(len(layer))),
                                "layer": (NEUROID, layer)})


def split_scores(rows: Sequence[object], unit: str, labels: xr.DataArray | dict) -> xr.DataArray:
    """A metric's scores ``(split, unit)`` from one row per split (arrays or torch tensors), labelled with the coords
    of ``labels`` on ``unit`` (an assembly) or with ``labels`` itself (a mapping). A NaN score (a constant unit,
    nothing to correlate) becomes 0, so no NaN leaks into averages."""
    import xarray as xr

    values = np.stack([as_numpy(r) for r in rows])
    coords = labels if isinstance(labels, dict) else {k: v for k, v in labels.coords.items() if v.dims == (unit,)}
    return xr.DataArray(np.nan_to_num(values), dims=("split", unit), coords=coords)


def as_numpy(values: object) -> np.ndarray:
    """A float64 array from an array, a sequence or a torch tensor on any device."""
    return np.asarray(values.cpu().numpy() if hasattr(values, "cpu") else values, dtype=np.float64)
