"""Running an extraction plan: ``extract(model, stimuli, layers)`` plans (:func:`~brainbench.extraction.plan.plan_extraction`),
then fits the reductions' projectors, runs the passes under ``torch.inference_mode`` (and
:func:`~brainbench.extraction.allocator.warm_heap`, so each batch reuses the last one's activation memory), with
hooks that take the token mode, encode an ``L:saeK`` layer with its stored SAE
(:mod:`~brainbench.extraction.sae_layer`) and reduce on the device, and copy into a preallocated float32 array on
a mapping of its own (a batch's forward pass ends at the pass's last layer), and stores each layer in the cache (or, for
multi-pass runs without a cache, in a temporary folder), so no more than one pass is ever held in memory.
The result is a lazy :class:`~brainbench.extraction.features.Features` mapping."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .allocator import mapped_array, warm_heap
from ..device import seeded
from ..errors import BrainbenchError, MemoryBudgetError
from .features import Features
from .inputs import _batch, _forward_error
from .layers import first_tensor
from .options import ExtractionOptions
from .plan import MAX_BATCH, ExtractionPlan, LayerPlan, _raw_units, plan_extraction
from ..progress import progress as progress_bar
from .reduction import Projector, fit_indices, fit_pca, fit_srp

if TYPE_CHECKING:
    import torch

    from ..data.stimuli import StimulusSet
    from .torch_model import TorchModel

__all__ = ["extract"]


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
    wanted: dict[str, dict[int, list[LayerPlan]]] = {}  # a layer and its SAE layers share a module and call
    for p in group:
        wanted.setdefault(p.info.module, {}).setdefault(p.info.call, []).append(p)
    encoders = {p.name: p.sae.encoder(plan.device) for p in group if p.sae is not None}
    calls = dict.fromkeys(wanted, 0)
    prefix = model.prefix_tokens or 0
    state: dict[str, Any] = {"offset": 0, "mask": None, "left": len(group)}
    modules = dict(model.module.named_modules())

    def hook_for(module_name: str):
        by_call = wanted[module_name]

        def hook(_m: Any, _i: Any, output: Any) -> None:
            calls[module_name] += 1
            for p in by_call.get(calls[module_name], ()):
                out = first_tensor(output)
                if p.info.batch_axis:
                    out = out.movedim(p.info.batch_axis, 0)
                if p.info.tokens and p.tokens == "cls":
                    out = out[:, 0]
                elif p.info.tokens and p.tokens == "mean":
                    out = _token_mean(out[:, prefix:], state["mask"], p.name)
                if p.name in encoders:
                    out = encoders[p.name](out)
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
