"""The feature extraction engine: plan, memory budget, passes, token modes, reduction and cache.

``extract(model, stimuli, layers)`` for a :class:`~brainbench.extraction.torch_model.TorchModel`:

1. trace the model on the first stimuli (layer names, depths, output shapes, duplicates);
2. resolve ``layers`` (names, globs, ``depth:LO-HI``; default: the model's candidates);
3. look every distinct layer up in the activation cache;
4. plan the rest into passes: per pass, stored features ``Σ n·units·4`` plus one batch of
   input and forward activations fit in the budget, ``(1 - HEADROOM)·memory_limit`` (the rest is
   left for what a plan cannot see: allocator slack, decoded images); the batch size fills what
   is left, and on a CUDA device also fits its free memory, less the same headroom;
5. run the passes under ``torch.inference_mode`` (and :func:`~brainbench.extraction.allocator.warm_heap`, so each
   batch reuses the last one's activation memory), with hooks that take the token mode, reduce on the
   device and copy into a preallocated float32 array on a mapping of its own; a batch's forward pass
   ends at the pass's last layer;
6. store each layer in the cache (or, for multi-pass runs without a cache, in a temporary
   folder), so no more than one pass is ever held in memory.

The result is a :class:`Features` mapping layer -> ``(presentation, neuroid)`` DataArray
that reads each layer from disk only when asked for it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .activation_cache import ActivationCache
from .allocator import mapped_array, warm_heap
from ..device import pick_device, seeded
from ..errors import BrainbenchError, ConfigError, MemoryBudgetError, UnknownNameError
from .layers import LayerInfo, first_tensor, select_layers
from .memory import default_memory_limit, device_free_memory, format_bytes
from .options import TOKEN_MODES, ExtractionOptions
from ..progress import progress as progress_bar
from .reduction import Projector, ReductionSpec, fit_indices, fit_pca, fit_srp

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from ..data.stimuli import StimulusSet
    from .torch_model import TorchModel

__all__ = ["TOKEN_MODES", "ExtractionOptions", "ExtractionPlan", "Features", "LayerPlan", "check_options", "extract",
           "plan_extraction"]

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


class Features(Mapping[str, "xr.DataArray"]):
    """Layer -> feature assembly, loaded (memory-mapped where on disk) when accessed."""

    def __init__(self, plan: ExtractionPlan, ids: list[str], arrays: dict[str, Any], attrs: dict[str, Any],
                 workdir: tempfile.TemporaryDirectory | None = None):
        self.plan, self.ids, self._arrays, self._attrs = plan, ids, arrays, attrs
        self._by_name = {p.name: p for p in plan.layers}
        self._workdir = workdir  # kept alive as long as the features are

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def same_as(self, layer: str) -> str | None:
        """The requested layer whose features ``layer`` repeats, if any."""
        source = self._by_name[layer].info.same_as
        return source if source in self._by_name else None

    def __getitem__(self, layer: str) -> xr.DataArray:
        import xarray as xr

        if layer not in self._by_name:
            raise UnknownNameError("layer of these features", layer, self._by_name)
        p = self._by_name[layer]
        values = self._arrays[self.same_as(layer) or layer]
        coords: dict[str, Any] = {
            "stimulus_id": ("presentation", self.ids),
            "unit": ("neuroid", np.arange(p.units)),
            "layer": ("neuroid", np.full(p.units, layer, dtype=object)),
        }
        if p.tokens == "all" and p.reduction == "none":
            n_tokens, channels = p.info.shape
            coords["token"] = ("neuroid", np.repeat(np.arange(n_tokens), channels))
        attrs = {**self._attrs, "layer": layer, "depth": p.info.depth, "tokens": p.tokens,
                 "reduction": p.reduction, "same_as": p.info.same_as or ""}
        return xr.DataArray(values, dims=("presentation", "neuroid"), coords=coords, attrs=attrs)


def _stored_units(info: LayerInfo, tokens: str, reduction: ReductionSpec | None) -> tuple[int, str, str]:
    units, mode = info.units, "n/a"
    if info.tokens:
        mode = tokens
        if tokens != "all":
            units = info.shape[-1]
    if reduction is not None and reduction.applies_to(units):
        return reduction.n_components, mode, str(reduction)
    return units, mode, "none"


def preprocess_fingerprint(model: TorchModel) -> str:
    """sha256 of the preprocessing's description (its repr without object addresses, which differ between
    processes) and of its output on a fixed probe image."""
    from PIL import Image

    from .identity import stable_repr

    probe = np.random.default_rng(0).integers(0, 256, size=(83, 61, 3), dtype=np.uint8)
    tensor = model.preprocess(Image.fromarray(probe) if model.modality == "image" else "A probe caption, 12 words.")
    h = hashlib.sha256(stable_repr(model.preprocess).encode())
    h.update(str(tuple(tensor.shape)).encode())
    h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _batch(model: TorchModel, stimuli: StimulusSet, ids: Sequence[str],
           shape: Sequence[int] | None = None) -> torch.Tensor:
    """The preprocessed stimuli ``ids`` as one input batch; each must have ``shape`` (else the first one's shape).

    Raises ConfigError naming every stimulus's preprocessed size, grouped, where they differ: a layer's
    features are one (stimulus x unit) array, so every stimulus must enter the network at one size."""
    import torch

    tensors = [model.preprocess(model.stimulus(stimuli, s)) for s in ids]
    expected = tuple(tensors[0].shape) if shape is None else tuple(shape)
    if any(tuple(t.shape) != expected for t in tensors):
        raise _sizes_error(model, stimuli)
    return torch.stack(tensors)


def _sizes_error(model: TorchModel, stimuli: StimulusSet) -> ConfigError:
    """Every stimulus's preprocessed size, grouped by size (computed only once sizes were found to differ)."""
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for s in stimuli.ids:
        by_shape.setdefault(tuple(model.preprocess(model.stimulus(stimuli, s)).shape), []).append(s)

    def listed(ids: list[str]) -> str:
        shown = ", ".join(map(repr, ids[:3])) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        return f"{len(ids)} stimul{'i' if len(ids) > 1 else 'us'}: {shown}"

    sizes = ", ".join(f"{'x'.join(map(str, shape))} ({listed(ids)})" for shape, ids in by_shape.items())
    return ConfigError(f"{model.label}'s preprocessing gives the {len(stimuli)} stimuli of {stimuli.identifier!r} "
                       f"{len(by_shape)} input sizes: {sizes}; a layer's features need one size for every stimulus: "
                       "add a Resize and CenterCrop to the preprocessing, or pass images of one size")


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
    chosen = select_layers(traced, list(layers) if layers else model.default_layers, model=model.label,
                           strict=bool(layers))
    if tokens == "cls" and model.prefix_tokens == 0 and any(info.tokens for info in chosen):
        raise ConfigError(f"{model.label} has no CLS token; use --tokens mean (patch-token mean) or all")

    plans = []
    store = cache if isinstance(cache, ActivationCache) else ActivationCache() if cache else None
    record = {**_key_record(model, stimuli, identity), "device": _device_type(device)} if store else {}
    names = {info.name for info in chosen}
    for info in chosen:
        units, mode, reduced = _stored_units(info, tokens, reduction)
        p = LayerPlan(info, units, mode, reduced, n * units * STORED_ITEMSIZE)
        if store and not _repeats(p, names):
            p.key = store.key({**record, "layer": info.name, "tokens": mode,
                               "reduction": reduction.key() if reduced != "none" else None})
            p.cached = store.verify(p.key)
        plans.append(p)
    # a duplicate whose original was not requested is computed under its own name
    todo = [p for p in plans if not p.cached and not _repeats(p, names)]
    distinct = [info for info in traced if info.same_as is None]  # a duplicate output takes no new memory
    forward = x[0].numel() * x.element_size() + sum(info.units * info.itemsize for info in distinct)  # input too
    largest = max(distinct, key=lambda info: info.units * info.itemsize)
    plan = ExtractionPlan(model.label, n, device, limit, forward, plans,
                          largest_layer=(largest.name, largest.units * largest.itemsize),
                          device_free=device_free_memory(device), reduction=reduction, cache=store, seed=seed,
                          identity=identity, input_shape=tuple(x.shape[1:]))
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


def forward_code(module: torch.nn.Module) -> dict[str, str]:
    """The versions of the code the forward pass runs: every package that defines one of the module's submodule
    classes (torch, torchvision, timm, open_clip, transformers, brainbench, a user's package), and torch itself.
    A class from a file outside any installed distribution (a script, a notebook's module) counts by the
    sha256 of its source file. An upgrade that changes a model's forward therefore never hits stale features."""
    import sys

    import torch

    code = {"torch": torch.__version__}
    for module_name in sorted({type(m).__module__ for m in module.modules()}):
        package = module_name.partition(".")[0]
        if package not in code:
            code[package] = _package_version(package) or _source_hash(sys.modules.get(module_name))
    return code


@functools.cache
def _package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for distribution in _distributions().get(package, []):
        try:
            return f"{distribution}=={version(distribution)}"
        except PackageNotFoundError:
            continue
    return None


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Top-level package -> the installed distributions providing it (read once: it scans every install)."""
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _source_hash(module: Any) -> str:
    path = getattr(module, "__file__", None)
    if path is None or not Path(path).is_file():
        return "unknown"  # defined interactively: nothing on disk to follow
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def extract(
    model: TorchModel,
    stimuli: StimulusSet,
    layers: Sequence[str] | None = None,
    *,
    progress: bool = True,
    options: ExtractionOptions | None = None,
    **keywords: Any,
) -> Features:
    """Features of ``stimuli`` at ``layers`` of ``model`` (see the module docstring for the steps).

    ``options`` and ``keywords`` are :func:`plan_extraction`'s (:class:`~brainbench.extraction.options.ExtractionOptions`).
    """
    plan = plan_extraction(model, stimuli, layers, options=options, **keywords)
    store = plan.cache
    by_name = {p.name: p for p in plan.layers}
    arrays: dict[str, Any] = {p.name: store.read(p.key) for p in plan.layers if p.cached}  # type: ignore[union-attr]
    workdir = tempfile.TemporaryDirectory(prefix="brainbench-features-") if store is None and len(plan.passes) > 1 else None
    with seeded(plan.seed, plan.device):  # a model that draws random numbers repeats; the caller's state is kept
        projectors = _projectors(model, stimuli, plan, progress)
        for i, (names, batch) in enumerate(zip(plan.passes, plan.batch_sizes)):
            description = f"{model.label}: pass {i + 1}/{len(plan.passes)}, {len(names)} layers"
            out = _run_pass(model, stimuli, [by_name[name] for name in names], plan, projectors, batch,
                            np.arange(plan.n_stimuli), description, progress)
            for name in names:  # hand each layer to disk and drop it, so one pass at most is ever in memory
                values = out.pop(name)
                if store is not None:
                    arrays[name] = store.store(by_name[name].key, values, {"model": model.label, "layer": name})
                elif workdir is not None:
                    path = Path(workdir.name) / f"{i}-{len(arrays)}.npy"
                    np.save(path, values)
                    arrays[name] = np.load(path, mmap_mode="r")
                else:
                    arrays[name] = values
                del values
    attrs = {"model": model.label, "weights": model.weights, "weights_hash": plan.identity["weights_hash"],
             "code": json.dumps(plan.identity["code"], sort_keys=True)}  # a string: netCDF attributes are flat
    return Features(plan, stimuli.ids, arrays, attrs, workdir)


def _projectors(model: TorchModel, stimuli: StimulusSet, plan: ExtractionPlan, show: bool) -> dict[str, Projector]:
    """Per reduced layer, its projection: SRP drawn from the seed, PCA fitted on a stimulus subset."""
    reduction = plan.reduction
    if reduction is None:
        return {}
    todo = [p for p in plan.layers if p.pass_index is not None and p.reduction != "none"]
    if reduction.method == "srp":
        return {p.name: fit_srp(_raw_units(p.info, p.tokens), reduction, plan.device) for p in todo}
    by_name = {p.name: p for p in todo}
    subset = fit_indices(plan.n_stimuli, reduction)
    projectors = {}
    for i, names in enumerate(plan.fit_passes):
        group = [by_name[name] for name in names if name in by_name]
        description = f"{model.label}: fitting pca {i + 1}/{len(plan.fit_passes)} on {len(subset)} stimuli"
        batch = int(max(1, min(MAX_BATCH, len(subset), plan.batch_sizes[0] if plan.batch_sizes else MAX_BATCH)))
        sample = _run_pass(model, stimuli, group, plan, {}, batch, subset, description, show, raw=True)
        for name, values in sample.items():
            projectors[name] = fit_pca(values, reduction, plan.device, layer=name)
        del sample
    return projectors


def _forward_error(model: TorchModel, ids: Sequence[str], x: torch.Tensor, exc: Exception) -> BrainbenchError:
    return BrainbenchError(f"model {model.label} failed on stimuli {ids[0]}..{ids[-1]} (input {tuple(x.shape)}): "
                           f"{type(exc).__name__}: {exc}; check that its preprocessing produces the input it expects")


def _token_mean(tokens: torch.Tensor, mask: torch.Tensor | None, layer: str) -> torch.Tensor:
    """Mean over the token axis of ``tokens`` (batch, tokens, channels); with a ``mask`` (batch, tokens),
    over the real tokens only: sum_t m_t x_t / sum_t m_t (padding of text models left out)."""
    if mask is None:
        return tokens.mean(1)
    if mask.shape != tokens.shape[:2]:
        raise BrainbenchError(f"layer {layer!r} has {tokens.shape[1]} tokens after the prefix but the model's token "
                              f"mask has {mask.shape[1]}; use --tokens all for this layer")
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1)


class _PassDone(Exception):
    """Raised by the hook of a pass's last layer to end the forward pass there."""


def _run_pass(model: TorchModel, stimuli: StimulusSet, group: list[LayerPlan], plan: ExtractionPlan,
              projectors: dict[str, Projector], batch_size: int, rows: np.ndarray, description: str, show: bool,
              *, raw: bool = False) -> dict[str, np.ndarray]:
    """One forward sweep over ``rows`` of the stimuli, filling a float32 array per layer of ``group``."""
    import torch

    n = len(rows)
    units = {p.name: (_raw_units(p.info, p.tokens) if raw else p.units) for p in group}
    outputs = {name: mapped_array((n, u)) for name, u in units.items()}  # off the heap: freed when dropped
    buffers = {name: torch.from_numpy(array) for name, array in outputs.items()}
    wanted: dict[str, dict[int, LayerPlan]] = {}
    for p in group:
        wanted.setdefault(p.info.module, {})[p.info.call] = p
    calls = dict.fromkeys(wanted, 0)
    prefix = model.prefix_tokens or 0
    state: dict[str, Any] = {"offset": 0, "mask": None, "left": len(group)}
    modules = dict(model.module.named_modules())

    def hook_for(module_name: str):
        by_call = wanted[module_name]

        def hook(_m: Any, _i: Any, output: Any) -> None:
            calls[module_name] += 1
            p = by_call.get(calls[module_name])
            if p is None:
                return
            out = first_tensor(output)
            if p.info.batch_axis:
                out = out.movedim(p.info.batch_axis, 0)
            if p.info.tokens and p.tokens == "cls":
                out = out[:, 0]
            elif p.info.tokens and p.tokens == "mean":
                out = _token_mean(out[:, prefix:], state["mask"], p.name)
            flat = out.reshape(out.shape[0], -1)
            if not raw and p.name in projectors:
                flat = projectors[p.name](flat)
            offset = state["offset"]
            buffers[p.name][offset : offset + flat.shape[0]].copy_(flat)
            state["left"] -= 1
            if state["left"] == 0:  # the pass's last layer: the rest of the forward pass is not needed
                raise _PassDone

        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in wanted]
    ids = stimuli.ids
    starts = range(0, n, batch_size)
    try:
        with torch.inference_mode(), warm_heap():  # each batch reuses the last one's activation memory
            for start in progress_bar(starts, total=len(starts), description=description, enabled=show):
                batch_ids = [ids[i] for i in rows[start : start + batch_size]]
                x = _batch(model, stimuli, batch_ids, plan.input_shape).to(plan.device)
                state["offset"] = start
                state["mask"] = None if model.token_mask is None else model.token_mask(x)[:, prefix:]
                calls.update(dict.fromkeys(calls, 0))
                state["left"] = len(group)
                try:
                    model.module(x)
                except _PassDone:
                    pass
                except torch.cuda.OutOfMemoryError as exc:
                    raise MemoryBudgetError(
                        f"{plan.device} ran out of memory on a batch of {len(batch_ids)} stimuli through {model.label} "
                        f"(stimuli {batch_ids[0]}..{batch_ids[-1]}); pass a smaller --batch-size (batch_size=...)"
                    ) from exc
                except Exception as exc:  # noqa: BLE001 - report which model and stimuli broke
                    raise _forward_error(model, batch_ids, x, exc) from exc
    finally:
        for handle in handles:
            handle.remove()
    return outputs
