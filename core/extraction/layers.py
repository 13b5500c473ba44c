"""Layers of a torch model: naming, relative depth, duplicate outputs, and selection by name, glob or depth.

Naming (stable, documented):

- a layer is a submodule addressed by its dotted path in ``module.named_modules()``
  (``layer1.0.conv1``, ``encoder.layers.encoder_layer_3``); both leaves and blocks are layers;
- a module that runs more than once per forward pass (a shared module, e.g. the ReLU that a
  torchvision ``BasicBlock`` calls twice) is one layer per call: ``layer1.0.relu#1``, ``layer1.0.relu#2``;
- modules whose output holds no per-stimulus tensor are not layers.

Relative depth is the position at which a layer's output is produced in the forward pass,
among all layers, scaled to [0, 1]: ``depth = rank / (n_layers - 1)``. A block's output comes
after its children's, so a block has the depth of its last child.

Two layers are duplicates when the later one's output is the earlier one's memory, not modified
in place in between (its version counter unchanged), and their flattened per-stimulus values are
equal on the traced stimuli: identity modules, eval-mode dropout, ``flatten`` of a pool, a block
returning its last ReLU's output. The later one records ``same_as`` the earlier one, and
extraction computes it once. Outputs that are equal by value but computed anew (or changed in
place to the same values) are not duplicates: equality on the traced stimuli does not prove it
on others (a ReLU after units that happen to be positive on them).
"""

from __future__ import annotations

import fnmatch
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BrainbenchError, ConfigError, UnknownNameError

if TYPE_CHECKING:
    import torch

__all__ = ["LayerInfo", "first_tensor", "select_layers", "trace"]

_PROBES = 32  # values sampled per output for the duplicate fingerprint


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer, as seen on a traced batch.

    ``shape`` is the per-stimulus output shape (batch axis removed); ``batch_axis`` where the
    batch sits in the raw output (1 for sequence-first transformers); ``tokens`` whether the
    output is a (tokens, channels) sequence that token modes apply to.
    """

    name: str
    module: str
    type: str
    call: int
    depth: float
    shape: tuple[int, ...]
    batch_axis: int
    itemsize: int
    tokens: bool = False
    same_as: str | None = None

    @property
    def units(self) -> int:
        out = 1
        for s in self.shape:
            out *= s
        return out


def first_tensor(output: Any) -> torch.Tensor | None:
    """The tensor a module returned (the first one of a tuple, list or dict), or None."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if isinstance(output, dict):
        for value in output.values():
            if isinstance(value, torch.Tensor):
                return value
    return None


def _batch_axis(shape: Sequence[int], batch: int) -> int | None:
    if len(shape) >= 1 and shape[0] == batch:
        return 0
    if len(shape) >= 2 and shape[1] == batch:  # sequence-first (tokens, batch, channels)
        return 1
    return None


def _fingerprint(out: torch.Tensor) -> tuple:
    """Per-stimulus flattened size plus sums and sampled values: equal outputs give equal fingerprints."""
    flat = out.detach().reshape(out.shape[0], -1).double()
    step = max(1, flat.shape[1] // _PROBES)
    probes = flat[:, ::step][:, :_PROBES]
    stats = (flat.sum(1), (flat * flat).sum(1), flat.abs().sum(1))
    return (flat.shape[1], *(tuple(s.cpu().tolist()) for s in stats), tuple(probes.cpu().reshape(-1).tolist()))


def _memory(tensor: torch.Tensor) -> tuple[int, int, int] | None:
    """Where a tensor's values live and how often they were changed in place: (storage address, offset,
    version); None where that cannot be known (an inference tensor, e.g. a table a module cached during an
    extraction, has no version counter; a tensor subclass may have no storage), so it duplicates nothing."""
    try:
        return tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor._version
    except (RuntimeError, NotImplementedError):
        return None


def trace(module: torch.nn.Module, batch: torch.Tensor, *, prefix_tokens: int | None = None) -> list[LayerInfo]:
    """Run ``batch`` (at least 2 stimuli) through ``module`` once and describe every layer, in output order.

    ``prefix_tokens`` (CLS and register tokens, for transformers) marks the per-stimulus 2-D
    outputs whose first axis has the model's token count as token sequences.
    """
    import torch

    b = batch.shape[0]
    if b < 2:
        raise BrainbenchError("tracing needs a batch of at least 2 stimuli to tell the batch axis apart")
    modules = [(name, m) for name, m in module.named_modules() if name]
    calls: dict[str, int] = {}
    # name, type, batch axis, call, shape, itemsize, and the index of the earlier output it duplicates (or None)
    seen: list[tuple[str, str, int, int, tuple[int, ...], int, int | None]] = []
    firsts: dict[tuple, tuple[int, weakref.ref]] = {}  # (values, memory) -> (its first output's index, that tensor)

    def hook_for(name: str, kind: str):
        def hook(_m: Any, _i: Any, output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            tensor = first_tensor(output)
            if tensor is None or not tensor.is_floating_point():
                return
            axis = _batch_axis(tensor.shape, b)
            if axis is None:
                return
            out = tensor.detach().movedim(axis, 0)
            key = (_fingerprint(out), _memory(tensor))
            first = firsts.get(key)
            alive = first is not None and first[1]() is not None  # else its memory may since hold another tensor
            seen.append((name, kind, axis, calls[name], tuple(out.shape), out.element_size(),
                         first[0] if alive and key[1] is not None else None))
            if not alive:
                firsts[key] = (len(seen) - 1, weakref.ref(tensor))

        return hook

    handles = [m.register_forward_hook(hook_for(name, type(m).__name__)) for name, m in modules]
    try:
        with torch.no_grad():  # not inference mode: in-place changes must bump version counters
            module(batch)
    finally:
        for handle in handles:
            handle.remove()

    token_count = None
    if prefix_tokens is not None:
        lengths = [shape[1] for _, _, _, _, shape, _, _ in seen if len(shape) == 3]
        token_count = max(set(lengths), key=lengths.count) if lengths else None
    n = len(seen)
    labels = [f"{name}#{call}" if calls[name] > 1 else name for name, _, _, call, *_ in seen]
    layers: list[LayerInfo] = []
    for rank, (name, kind, axis, call, shape, itemsize, original) in enumerate(seen):
        layers.append(LayerInfo(
            name=labels[rank], module=name, type=kind, call=call, depth=round(rank / (n - 1), 6) if n > 1 else 0.0,
            shape=shape[1:], batch_axis=axis, itemsize=itemsize,
            tokens=token_count is not None and len(shape) == 3 and shape[1] == token_count,
            same_as=None if original is None else labels[original],
        ))
    return layers


_DEPTH = re.compile(r"depth:\s*([0-9.]+)\s*-\s*([0-9.]+)")


def select_layers(layers: Sequence[LayerInfo], specs: Sequence[str], *, model: str, strict: bool = True) -> list[LayerInfo]:
    """The layers named by ``specs``, in forward order: exact names, fnmatch globs, or ``depth:LO-HI`` ranges.

    ``strict=False`` (for a model's default candidates) skips names that produced no layer output."""
    by_name = {layer.name: layer for layer in layers}
    modules = {}
    for layer in layers:  # a shared module's bare name means all its calls
        modules.setdefault(layer.module, []).append(layer.name)
    chosen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"layer selection {list(specs)!r} of {model} has an empty or non-text entry (a doubled "
                              "comma?); give layer names, globs or depth:LO-HI ranges, e.g. 'layer1,layer4*'")
        spec = spec.strip()
        depth = _DEPTH.fullmatch(spec)
        if spec.startswith("depth:") and depth is None:
            raise ConfigError(f"layer depth range {spec!r} is not depth:LO-HI with numbers 0 <= LO <= HI <= 1, "
                              "e.g. depth:0.2-0.6")
        if depth:
            try:
                lo, hi = float(depth.group(1)), float(depth.group(2))
            except ValueError:  # the pattern lets '1.2.3' through
                lo, hi = -1.0, -1.0
            if not 0 <= lo <= hi <= 1:
                raise ConfigError(f"layer depth range {spec!r} must satisfy 0 <= LO <= HI <= 1, e.g. depth:0.2-0.6")
            found = [layer.name for layer in layers if lo <= layer.depth <= hi]
        elif any(c in spec for c in "*?["):
            found = [name for name in by_name if fnmatch.fnmatchcase(name, spec)]
        elif spec in by_name:
            found = [spec]
        elif spec in modules:
            found = modules[spec]
        elif strict:
            raise UnknownNameError(f"layer of {model}", spec, list(by_name))
        else:
            continue
        if not found and strict:
            raise ConfigError(f"layer selection {spec!r} matches no layer of {model} (it has {len(layers)}; "
                              "`brainbench layers MODEL` lists them with their depths)")
        chosen.update(found)
    if not chosen:
        raise ConfigError(f"none of the layers {list(specs)[:5]} of {model} produced an output on the stimuli")
    return [layer for layer in layers if layer.name in chosen]
