"""A model's input from stimuli: the preprocessed stimuli as one batch (every stimulus at one size, else an error
naming each size), and the error that names the model and stimuli a forward pass failed on. The extraction plan
traces on such a batch, the run feeds them, and :meth:`TorchModel.layer_table` traces on one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import BrainbenchError, ConfigError

if TYPE_CHECKING:
    import torch

    from ..data.stimuli import StimulusSet
    from .torch_model import TorchModel

__all__: list[str] = []


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


def _forward_error(model: TorchModel, ids: Sequence[str], x: torch.Tensor, exc: Exception) -> BrainbenchError:
    return BrainbenchError(f"model {model.label} failed on stimuli {ids[0]}..{ids[-1]} (input {tuple(x.shape)}): "
                           f"{type(exc).__name__}: {exc}; check that its preprocessing produces the input it expects")
