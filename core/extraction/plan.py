"""The extraction plan: what ``extract(model, stimuli, layers)`` will do, decided before any forward pass
(a dry run reports it):

1. trace the model on the first stimuli (layer names, depths, output shapes, duplicates);
2. resolve ``layers`` (names, globs, ``depth:LO-HI``, and ``L:saeK``, the features of a stored sparse autoencoder
   over layer ``L``: :mod:`brainbench.extraction.sae_layer`; default: the model's candidates);
3. look every distinct layer up in the activation cache;
4. plan the rest into passes: per pass, stored features ``Σ n·units·4`` plus one batch of
   input and forward activations fit in the budget, ``(1 - HEADROOM)·memory_limit`` (the rest is
   left for what a plan cannot see: allocator slack, decoded images); the batch size fills what
   is left, and on a CUDA device also fits its free memory, less the same headroom.

:mod:`brainbench.extraction.run` runs the passes; :mod:`brainbench.extraction.features` is the lazy
mapping they return.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .activation_cache import ActivationCache
from ..device import pick_device, seeded
from ..errors import BrainbenchError, ConfigError, MemoryBudgetError
from .inputs import _batch, _forward_error
from .layers import LayerInfo, select_layers
from .memory import default_memory_limit, device_free_memory, format_bytes
from .options import TOKEN_MODES, ExtractionOptions
from .reduction import ReductionSpec, fit_indices
from .sae_layer import StoredSAE, find_sae, layout_of, parse_sae_layer

if TYPE_CHECKING:
    from ..data.stimuli import StimulusSet
    from .torch_model import TorchModel

__all__ = ["TOKEN_MODES", "ExtractionOptions", "ExtractionPlan", "LayerPlan", "check_options", "plan_extraction"]

MAX_BATCH = 64
STORED_ITEMSIZE = 4  # features are stored as float32
HEADROOM = 0.05  # of the memory limit, kept out of the plan


@dataclass
class LayerPlan:
    """What happens to one requested layer."""

    info: LayerInfo
    units: int  # stored per stimulus, after the token mode and reduction
    tokens: str  # the token mode applied ("n/a" for non-token layers)
    reduction: str  # "none" or the reduction's description
    stored_bytes: int
    key: str = ""
    cached: bool = False
    pass_index: int | None = None  # None: from the cache, or a duplicate of another layer
    sae: StoredSAE | None = None  # an ``L:saeK`` layer: the SAE applied to its base layer's output

    @property
    def name(self) -> str:
        return self.info.name


@dataclass
class ExtractionPlan:
    """Every layer's shape and bytes, the passes and their batch sizes: what a dry run reports."""

    model: str
    n_stimuli: int
    device: str
    memory_limit: int
    forward_bytes_per_stimulus: int
    layers: list[LayerPlan]
    passes: list[list[str]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    fit_passes: list[list[str]] = field(default_factory=list)  # PCA fits on a stimulus subset
    largest_layer: tuple[str, int] = ("", 0)  # of the whole model: name, bytes per stimulus
    device_free: int | None = None  # bytes free on a CUDA device when planned; None on the CPU and MPS
    reduction: ReductionSpec | None = None
    cache: ActivationCache | None = field(default=None, repr=False)
    seed: int = 0
    identity: dict[str, Any] = field(default_factory=dict)  # the model's weights hash and code when planned
    input_shape: tuple[int, ...] = ()  # one preprocessed stimulus, as traced: every batch must have it

    @property
    def budget(self) -> int:
        """The bytes a pass may plan for: the memory limit less its headroom."""
        return int(self.memory_limit * (1 - HEADROOM))

    @property
    def device_budget(self) -> int | None:
        """The bytes a batch may take on a CUDA device: its free memory less the headroom; None off CUDA."""
        return None if self.device_free is None else int(self.device_free * (1 - HEADROOM))

    @property
    def total_bytes(self) -> int:
        """Bytes of all distinct requested features (duplicates counted once)."""
        names = {p.name for p in self.layers}
        return sum(p.stored_bytes for p in self.layers if not _repeats(p, names))

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"layer": p.name, "type": p.info.type, "depth": p.info.depth, "shape": "x".join(map(str, p.info.shape)),
             "tokens": p.tokens, "units": p.units, "bytes": p.stored_bytes, "same_as": p.info.same_as or "",
             "pass": "cache" if p.cached else ("" if p.pass_index is None else p.pass_index + 1)}
            for p in self.layers
        ]

    def summary(self) -> str:
        n_cached = sum(p.cached for p in self.layers)
        batches = ", ".join(f"pass {i + 1}: {len(layers)} layers, batch {b}"
                            for i, (layers, b) in enumerate(zip(self.passes, self.batch_sizes)))
        fits = f"; {len(self.fit_passes)} PCA fitting passes first" if self.fit_passes else ""
        free = "" if self.device_free is None else f", {format_bytes(self.device_free)} free"
        return (f"{self.model} on {self.n_stimuli} stimuli ({self.device}{free}): {len(self.layers)} layers, "
                f"{format_bytes(self.total_bytes)} of features, {n_cached} from the cache; memory limit "
                f"{format_bytes(self.memory_limit)} (a forward pass holds {format_bytes(self.forward_bytes_per_stimulus)} "
                f"of input and activations per stimulus); {len(self.passes)} pass{'es' * (len(self.passes) != 1)} "
                f"({batches or 'none'}){fits}")


def _stored_units(info: LayerInfo, tokens: str, reduction: ReductionSpec | None) -> tuple[int, str, str]:
    units, mode = info.units, "n/a"
    if info.tokens:
        mode = tokens
        if tokens != "all":
            units = info.shape[-1]
    if reduction is not None and reduction.applies_to(units):
        return reduction.n_components, mode, str(reduction)
    return units, mode, "none"


def check_options(*, tokens: str = "all", reduce: str | ReductionSpec | None = None,
                  memory_limit: str | int | None = None, batch_size: int | None = None,
                  seed: int = 0) -> tuple[ReductionSpec | None, int | None]:
    """The reduction and the memory limit in bytes (None: the default) of these options, checked as
    :class:`~brainbench.extraction.options.ExtractionOptions` checks them (kept for callers of brainbench 0.1)."""
    options = ExtractionOptions(tokens=tokens, reduce=reduce, memory_limit=memory_limit, batch_size=batch_size,
                                seed=seed)
    return options.reduction(), options.memory_bytes()


def plan_extraction(
    model: TorchModel,
    stimuli: StimulusSet,
    layers: Sequence[str] | None = None,
    *,
    options: ExtractionOptions | None = None,
    **keywords: Any,
) -> ExtractionPlan:
    """Trace, resolve layers, consult the cache and group the rest into passes; runs no extraction.

    ``layers`` is a list of specs (or one spec as a string). ``options`` is an
    :class:`~brainbench.extraction.options.ExtractionOptions` (whose docstring lists every option), or the options
    come as keywords (``tokens="cls", memory_limit="2GB"``), which replace the fields of ``options``. Raises
    ConfigError for an unknown option or one out of range (token mode, batch size < 1, a seed outside
    0..2**32-1, ...) and for stimuli of several preprocessed sizes, UnknownNameError for a layer the model does not
    have, and MemoryBudgetError where the limit is too small."""
    from ..data.stimuli import StimulusSet

    if not isinstance(stimuli, StimulusSet):
        raise ConfigError(f"stimuli must be a brainbench.StimulusSet, not {type(stimuli).__name__}; build one with "
                          "StimulusSet.from_files, from_arrays or from_texts")
    layers = [layers] if isinstance(layers, str) else layers
    options = ExtractionOptions.of(options, **keywords)
    tokens, batch_size, cache = options.tokens, options.batch_size, options.cache
    seed = model.seed if options.seed is None else options.seed
    reduction, limit = options.reduction(seed), options.memory_bytes()
    limit = default_memory_limit() if limit is None else limit
    device = pick_device(options.device)
    n = len(stimuli)
    if n == 0:
        raise ConfigError("the stimulus set is empty: there is nothing to extract")
    model.module.to(device)
    identity = model.identity()  # read before the trace: a training-mode forward pass updates batch-norm statistics
    probe_ids = stimuli.ids[:2] if n >= 2 else stimuli.ids * 2
    x = _batch(model, stimuli, probe_ids).to(device)
    try:
        with seeded(seed, device):  # a model that draws random numbers leaves the caller's generators alone
            traced = model.trace(x, identity=identity)
    except BrainbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - say which model failed on which stimuli
        raise _forward_error(model, probe_ids, x, exc) from exc
    chosen, saes = _resolve(model, traced, list(layers) if layers else model.default_layers, bool(layers), identity)
    if tokens == "cls" and model.prefix_tokens == 0 and any(info.tokens for info in chosen):
        raise ConfigError(f"{model.label} has no CLS token; use --tokens mean (patch-token mean) or all")

    plans = []
    store = cache if isinstance(cache, ActivationCache) else ActivationCache() if cache else None
    record = {**_key_record(model, stimuli, identity), "device": _device_type(device)} if store else {}
    names = {info.name for info in chosen}
    for info in chosen:
        units, mode, reduced = _stored_units(info, tokens, reduction)
        p = LayerPlan(info, units, mode, reduced, n * units * STORED_ITEMSIZE, sae=saes.get(info.name))
        if store and not _repeats(p, names):
            derived = {"sae": p.sae.identity} if p.sae else {}  # a plain layer's key is as it always was
            p.key = store.key({**record, "layer": info.name, "tokens": mode,
                               "reduction": reduction.key() if reduced != "none" else None, **derived})
            p.cached = store.verify(p.key)
        plans.append(p)
    # a duplicate whose original was not requested is computed under its own name
    todo = [p for p in plans if not p.cached and not _repeats(p, names)]
    distinct = [info for info in traced if info.same_as is None]  # a duplicate output takes no new memory
    forward = x[0].numel() * x.element_size() + sum(info.units * info.itemsize for info in distinct)  # input too
    forward += sum(p.info.units * STORED_ITEMSIZE for p in todo if p.sae)  # an SAE's codes, made on the device
    largest = max(distinct, key=lambda info: info.units * info.itemsize)
    plan = ExtractionPlan(model.label, n, device, limit, forward, plans,
                          largest_layer=(largest.name, largest.units * largest.itemsize),
                          device_free=device_free_memory(device), reduction=reduction, cache=store, seed=seed,
                          identity=_with_saes(identity, saes), input_shape=tuple(x.shape[1:]))
    _check_budget(plan, todo)
    plan.passes = _group(todo, lambda p: p.stored_bytes, plan.budget - forward)
    on_device = MAX_BATCH if plan.device_budget is None else plan.device_budget // max(forward, 1)
    plan.batch_sizes = [
        batch_size or int(max(1, min(MAX_BATCH, on_device, n,
                                     (plan.budget - sum(p.stored_bytes for p in group)) // max(forward, 1))))
        for group in plan.passes
    ]
    for i, group in enumerate(plan.passes):
        for p in group:
            p.pass_index = i
    plan.passes = [[p.name for p in group] for group in plan.passes]
    if reduction is not None and reduction.method == "pca":
        n_fit = len(fit_indices(n, reduction))
        fitted = [p for p in todo if p.reduction != "none"]
        plan.fit_passes = [[p.name for p in g] for g in
                           _group(fitted, lambda p: _raw_units(p.info, p.tokens) * n_fit * STORED_ITEMSIZE, plan.budget - forward)]
    return plan


def _resolve(model: TorchModel, traced: list[LayerInfo], specs: list[str], strict: bool,
             identity: dict[str, Any]) -> tuple[list[LayerInfo], dict[str, StoredSAE]]:
    """The layers ``specs`` name, in forward order, each ``L:saeK`` right after its base layer ``L`` (as a layer of
    its own, hooked on ``L``'s module and call, of the SAE's shape), and the stored SAE of each. Raises the errors of
    :func:`~.layers.select_layers` (an unknown base layer: UnknownNameError with close matches), ConfigError for
    a bad SAE layer name, a missing SAE (naming the command that trains it), or one trained on other weights or
    another shape of the base layer, and DataFileError for SAE weights changed since they were stored."""
    import dataclasses

    plain, derived = [], []
    for spec in specs:
        parsed = parse_sae_layer(spec) if isinstance(spec, str) else None
        if parsed is None:
            plain.append(spec)
        else:
            derived.append(parsed)
    chosen = select_layers(traced, plain, model=model.label, strict=strict) if plain or not derived else []
    saes: dict[str, StoredSAE] = {}
    after: dict[str, list[LayerInfo]] = {}
    for base, n_features in derived:
        found = select_layers(traced, [base], model=model.label)
        if len(found) != 1:
            raise ConfigError(f"SAE layer {base}:sae{n_features}: {base!r} names {len(found)} layers of {model.label} "
                              f"({', '.join(info.name for info in found)}); name one of them before ':sae'")
        info = found[0]
        layout_of(info, model.label)
        sae = find_sae(model.label, info.name, n_features)
        sae.verify()  # the file's own sha256 keys its features, not only what its card says
        if sae.card["weights_hash"] != identity["weights_hash"]:
            raise ConfigError(f"the stored SAE {sae.name} of {model.label} was trained on weights with hash "
                              f"{sae.card['weights_hash'][:12]}..., and the model's weights now hash to "
                              f"{identity['weights_hash'][:12]}...; train it again with --overwrite")
        if list(sae.card["base_shape"]) != list(info.shape):
            raise ConfigError(f"the stored SAE {sae.name} was trained on outputs of shape {sae.card['base_shape']} of "
                              f"{info.name!r}, which now has shape {list(info.shape)}; train it again with --overwrite")
        if sae.name not in saes:
            saes[sae.name] = sae
            after.setdefault(info.name, []).append(dataclasses.replace(
                info, name=sae.name, type=f"SAE over {info.type}", shape=sae.shape(info.shape),
                itemsize=STORED_ITEMSIZE, same_as=None))
    names = {info.name for info in chosen}
    ordered = []
    for info in traced:
        ordered += ([info] if info.name in names else []) + after.get(info.name, [])
    return ordered, saes


def _with_saes(identity: dict[str, Any], saes: dict[str, StoredSAE]) -> dict[str, Any]:
    """``identity`` with each SAE layer's identity in its code (so a score's provenance records it); unchanged
    without SAE layers."""
    if not saes:
        return identity
    sae_code = {f"sae {name}": json.dumps(sae.identity, sort_keys=True) for name, sae in saes.items()}
    return {**identity, "code": {**identity["code"], **sae_code}}


def _repeats(p: LayerPlan, names: set[str]) -> bool:
    """Whether ``p`` repeats the output of another requested layer (and so is not computed)."""
    return p.info.same_as is not None and p.info.same_as in names


def _raw_units(info: LayerInfo, mode: str) -> int:
    return info.shape[-1] if info.tokens and mode in ("cls", "mean") else info.units


def _check_budget(plan: ExtractionPlan, todo: list[LayerPlan]) -> None:
    limit, budget, forward, reduction = plan.memory_limit, plan.budget, plan.forward_bytes_per_stimulus, plan.reduction
    if plan.device_budget is not None and forward > plan.device_budget:
        raise MemoryBudgetError(
            f"one stimulus's forward pass through {plan.model} needs {format_bytes(forward)} on {plan.device}, which "
            f"has {format_bytes(plan.device_free)} free (less {HEADROOM:.0%} headroom); free the device, or use "
            "--device cpu"
        )
    if forward > budget:
        name, size = plan.largest_layer
        raise MemoryBudgetError(
            f"memory limit {format_bytes(limit)} (less {HEADROOM:.0%} headroom) is smaller than one stimulus's forward "
            f"pass through {plan.model} "
            f"({format_bytes(forward)}; its largest layer {name!r} alone is {format_bytes(size)}); raise --memory-limit"
        )
    for p in todo:
        if p.stored_bytes > budget - forward:
            raise MemoryBudgetError(
                f"layer {p.name!r} of {plan.model} needs {format_bytes(p.stored_bytes)} for {plan.n_stimuli} stimuli "
                f"({p.units} units each), more than the memory limit {format_bytes(limit)} leaves after the forward "
                f"pass; reduce it on the fly (--reduce srp:4096 or pca:1000), or raise --memory-limit"
            )
    if reduction is not None and reduction.method == "pca":
        n_fit = len(fit_indices(plan.n_stimuli, reduction))
        for p in todo:
            need = _raw_units(p.info, p.tokens) * n_fit * STORED_ITEMSIZE
            if p.reduction != "none" and need > budget - forward:
                raise MemoryBudgetError(
                    f"fitting pca on layer {p.name!r} holds {n_fit} stimuli x {_raw_units(p.info, p.tokens)} units "
                    f"({format_bytes(need)}), more than the memory limit allows; fit on fewer stimuli "
                    f"(pca:{reduction.n_components}/N), use srp, or raise --memory-limit"
                )


def _group(items: list[LayerPlan], size: Any, capacity: int) -> list[list[LayerPlan]]:
    """Consecutive layers (forward order) packed greedily so each group's total size fits ``capacity``."""
    groups: list[list[LayerPlan]] = []
    used = capacity + 1
    for item in items:
        if used + size(item) > capacity:
            groups.append([])
            used = 0
        groups[-1].append(item)
        used += size(item)
    return groups


def _key_record(model: TorchModel, stimuli: StimulusSet, identity: dict[str, Any]) -> dict[str, Any]:
    """What the features depend on besides the layer: ``identity`` (:meth:`TorchModel.identity`, read when planning),
    the preprocessing, the prefix tokens (``--tokens cls``/``mean`` read past them) and the stimuli."""
    return {"model": model.name, "weights": model.weights, "weights_hash": identity["weights_hash"],
            "preprocess": model.preprocess_fingerprint(), "stimuli": stimuli.content_hash(), "dtype": "float32",
            "code": identity["code"], "prefix_tokens": model.prefix_tokens}


def _device_type(device: str) -> str:
    """``cuda:1`` -> ``cuda``: kernels differ between device types (not between two GPUs of one machine's kind)."""
    return device.split(":")[0]

