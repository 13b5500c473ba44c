"""What feature visualisation maximises, and how it reads a layer with gradients on.

An objective names a layer of a brainbench torch model (as :mod:`brainbench.extraction.layers` names them: the
dotted module path, ``name#n`` for the n-th call of a module that runs more than once) and turns that layer's
output ``(b, ...)`` (batch axis first) into one value per image:

- :class:`Unit`: channel ``unit`` of a convolutional map ``(channels, h, w)`` at one position (default the centre,
  ``(h // 2, w // 2)``), or output ``unit`` of a flat layer;
- :class:`Channel`: the spatial mean of a channel's map (a flat layer's output ``channel``);
- :class:`Direction`: the dot product of a vector over channels with the spatial-mean readout (a flat layer's
  output itself);
- an encoding-model voxel (:class:`~brainbench.interpret.visualize.voxel.Voxel`): a fitted ridge readout's
  prediction for one neuroid from the layer's flattened output.

:class:`LayerTap` reads the layer through a forward hook while gradients flow; :func:`model_input` is the model's
own preprocessing as a differentiable function of an image batch in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ConfigError

if TYPE_CHECKING:
    import torch

    from ...extraction.layers import LayerInfo

__all__ = ["Channel", "Direction", "LayerTap", "ModelInput", "Unit", "model_input", "resolve_layer"]


def resolve_layer(model: Any, layer: str, device: str) -> LayerInfo:
    """The one layer ``layer`` names, traced on the model's own input size (:meth:`TorchModel.layer_table`). Raises
    UnknownNameError (with close matches) for a layer the model does not have, ConfigError for a name that selects
    several layers (a glob, a depth range, or the bare name of a module called more than once: name one call,
    ``name#n``)."""
    from ...extraction.layers import select_layers

    name = getattr(getattr(model, "card", None), "name", "the model")
    if not isinstance(layer, str) or not layer.strip():
        raise ConfigError(f"layer must be a layer name of {name}; got {layer!r} (`brainbench layers {name}` lists "
                          "them)")
    found = select_layers(model.layer_table(device=device), [layer], model=name)
    if len(found) != 1:
        names = ", ".join(info.name for info in found[:6])
        raise ConfigError(f"layer {layer!r} of {name} selects {len(found)} layers ({names}); feature visualisation "
                          "reads one: give its exact name (a module called more than once as name#n)")
    return found[0]


def _spatial(info: LayerInfo) -> bool:
    return len(info.shape) == 3 and not info.tokens


def _channels(info: LayerInfo, what: str) -> int:
    """The number of channels (a map) or outputs (a flat layer) of ``info``; ConfigError for any other shape."""
    if _spatial(info):
        return info.shape[0]
    if len(info.shape) == 1:
        return info.shape[0]
    raise ConfigError(f"layer {info.name!r} has per-image output shape {tuple(info.shape)}, neither a map (channels, "
                      f"height, width) nor a flat vector, so a {what} is not defined on it; choose another layer")


def _index(value: object, size: int, what: str, layer: str, counted: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{what} must be a whole number; got {value!r}")
    if not 0 <= int(value) < size:
        raise ConfigError(f"{what} {int(value)} is out of range: layer {layer!r} has {size} "
                          f"{counted or what + 's'} (indices 0 to {size - 1})")
    return int(value)


@dataclass(frozen=True)
class Unit:
    """One unit: ``layer``'s channel ``unit`` at ``position`` (row, column; default the centre) of its map, or its
    output ``unit`` for a flat layer."""

    layer: str
    unit: int
    position: tuple[int, int] | None = None

    def check(self, info: LayerInfo) -> Unit:
        """This objective with its position resolved; ConfigError for an index out of the layer's range."""
        _index(self.unit, _channels(info, "unit"), "unit", info.name, "channels" if _spatial(info) else "units")
        if not _spatial(info):
            if self.position is not None:
                raise ConfigError(f"layer {info.name!r} is flat (shape {tuple(info.shape)}); a unit there has no "
                                  "position: leave position out")
            return self
        h, w = info.shape[1:]
        row, col = self.position if self.position is not None else (h // 2, w // 2)
        _index(row, h, "row", info.name)
        _index(col, w, "column", info.name)
        return Unit(self.layer, int(self.unit), (int(row), int(col)))

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        if act.dim() == 4:
            return act[:, self.unit, self.position[0], self.position[1]]
        return act[:, self.unit]

    def describe(self) -> dict[str, Any]:
        return {"objective": "unit", "layer": self.layer, "unit": self.unit,
                "position": list(self.position) if self.position is not None else None}


@dataclass(frozen=True)
class Channel:
    """The spatial mean of ``layer``'s channel ``channel`` (a flat layer's output ``channel``)."""

    layer: str
    channel: int

    def check(self, info: LayerInfo) -> Channel:
        _index(self.channel, _channels(info, "channel"), "channel", info.name)
        return Channel(self.layer, int(self.channel))

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        if act.dim() == 4:
            return act[:, self.channel].mean((1, 2))
        return act[:, self.channel]

    def describe(self) -> dict[str, Any]:
        return {"objective": "channel", "layer": self.layer, "channel": self.channel}


@dataclass(frozen=True)
class Direction:
    """``vector`` (one weight per channel) dotted with ``layer``'s spatial-mean readout (a flat layer's output)."""

    layer: str
    vector: np.ndarray = field(repr=False)

    def check(self, info: LayerInfo) -> Direction:
        size = _channels(info, "direction")
        vector = np.asarray(self.vector, dtype=np.float64)
        if vector.ndim != 1 or vector.size != size:
            raise ConfigError(f"the direction has shape {vector.shape}, but layer {info.name!r} has {size} channels: "
                              f"give a vector of {size} numbers")
        if not np.isfinite(vector).all():
            raise ConfigError("the direction has non-finite values")
        return Direction(self.layer, vector)

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        import torch

        readout = act.mean((2, 3)) if act.dim() == 4 else act
        return readout @ torch.as_tensor(self.vector, dtype=readout.dtype, device=readout.device)

    def describe(self) -> dict[str, Any]:
        return {"objective": "direction", "layer": self.layer, "norm": float(np.linalg.norm(self.vector))}


class LayerTap:
    """Reads one layer's output (:class:`LayerInfo`: its module and call) on every forward pass, gradients on:
    ``with LayerTap(module, info) as tap: act = tap(batch)`` runs ``module(batch)`` and returns that output with
    its batch axis first."""

    def __init__(self, module: torch.nn.Module, info: LayerInfo):
        self.module, self.info = module, info
        self._output: torch.Tensor | None = None
        self._calls = 0
        self._handle: Any = None

    def __enter__(self) -> LayerTap:
        from ...extraction.layers import first_tensor

        target = dict(self.module.named_modules())[self.info.module]

        def hook(_m: Any, _i: Any, output: Any) -> None:
            self._calls += 1
            if self._calls == self.info.call:
                self._output = first_tensor(output)

        self._handle = target.register_forward_hook(hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self._output, self._calls = None, 0
        self.module(batch)
        if self._output is None:
            raise ConfigError(f"layer {self.info.name!r} gave no output on this input (call {self.info.call} of "
                              f"{self.info.module!r} did not run)")
        return self._output.movedim(self.info.batch_axis, 0)


@dataclass(frozen=True)
class ModelInput:
    """A model's preprocessing as a differentiable map of an image batch ``(b, 3, h, w)`` in [0, 1]: the central
    region ``crop`` (top, bottom, left, right as fractions of the height and width; the whole image by default) cut
    out, a bilinear resize to ``size`` (height, width), then ``x * scale + shift`` per channel (:func:`model_input`)."""

    size: tuple[int, int]
    scale: tuple[float, float, float]
    shift: tuple[float, float, float]
    crop: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        h, w = images.shape[-2:]
        top, bottom, left, right = self.crop
        images = images[..., round(top * h):max(round(bottom * h), round(top * h) + 1),
                        round(left * w):max(round(right * w), round(left * w) + 1)]
        resized = F.interpolate(images, size=self.size, mode="bilinear", align_corners=False)
        scale = torch.tensor(self.scale, dtype=images.dtype, device=images.device)[:, None, None]
        shift = torch.tensor(self.shift, dtype=images.dtype, device=images.device)[:, None, None]
        return resized * scale + shift


def _visible(profile: np.ndarray, side: int) -> tuple[float, float]:
    """The part ``(start, end)`` of an input axis (fractions of its length) that an output axis shows, from the
    output's ``profile`` of a ramp image (input pixel i has value i / (side - 1)): a straight line fitted to the
    middle 80 % of the output pixels (resampling blurs the ends), read at the output's two edges."""
    n = len(profile)
    centres = (np.arange(n) + 0.5) / n
    middle = slice(n // 10, max(n - n // 10, n // 10 + 2))
    slope, intercept = np.polyfit(centres[middle], profile[middle], 1)
    edges = (np.array([intercept, intercept + slope]) * (side - 1) + 0.5) / side  # input value -> position
    start, end = (float(v) for v in np.clip(edges, 0.0, 1.0))
    if start < 1 / side and end > 1 - 1 / side:
        return 0.0, 1.0  # the whole axis, within a pixel
    return start, end


def model_input(model: Any) -> ModelInput:
    """The model's preprocessing (``model.preprocess``, PIL image -> tensor) read as a differentiable
    :class:`ModelInput`: its output size and per-channel affine map of pixel values, found by passing it uniform
    images (black, white, and one of three different levels, which checks that each output channel depends on its
    own input channel only, linearly), and the central part of the image it keeps (a resize-and-crop such as
    ``Resize(256), CenterCrop(224)`` keeps the middle 224/256 of each axis), found from its output on two ramp
    images (brightness rising left to right, and top to bottom), so features of the optimised image are framed as
    features of the stimuli are. Raises ConfigError for a text
    model, or a preprocessing that is not such a map (mixes channels, is not linear in the pixel values, or does not
    keep a uniform image uniform): visualise that model with ``preprocess=`` a differentiable function of your own."""
    from PIL import Image

    name = getattr(getattr(model, "card", None), "name", "the model")
    if getattr(model, "modality", "image") != "image":
        raise ConfigError(f"{name} takes text, not images; feature visualisation optimises an image input")
    side = int(getattr(getattr(model, "card", None), "input_size", None) or 224)

    def through(rgb: tuple[int, int, int]) -> np.ndarray:
        out = model.preprocess(Image.new("RGB", (side, side), rgb))
        return np.asarray(out.detach().cpu().double().numpy())

    black, white, mixed = through((0, 0, 0)), through((255, 255, 255)), through((255, 0, 128))
    shape = black.shape
    fix = (f"visualise {name} with preprocess=, a differentiable function of a (batch, 3, h, w) image in [0, 1] "
           "giving the model's input")
    if len(shape) != 3 or shape[0] != 3:
        raise ConfigError(f"{name}'s preprocessing gives shape {shape}, not (3, height, width); {fix}")
    flat = [a.reshape(3, -1) for a in (black, white, mixed)]
    spread = max(float(np.ptp(a, axis=1).max()) for a in flat)
    shift, scale = flat[0].mean(1), flat[1].mean(1) - flat[0].mean(1)
    predicted = shift + scale * np.array([1.0, 0.0, 128 / 255])
    tolerance = 1e-3 * max(1.0, float(np.abs(scale).max()))
    if spread > tolerance or np.abs(flat[2].mean(1) - predicted).max() > tolerance:
        raise ConfigError(f"{name}'s preprocessing is not a resize plus a per-channel affine map of pixel values "
                          f"(uniform images do not come out as such); {fix}")
    ramp = np.round(np.linspace(0, 255, side)).astype(np.uint8)
    across = model.preprocess(Image.fromarray(np.repeat(np.tile(ramp, (side, 1))[..., None], 3, 2)))
    down = model.preprocess(Image.fromarray(np.repeat(np.tile(ramp[:, None], (1, side))[..., None], 3, 2)))
    columns = (np.asarray(across.detach().cpu().double().numpy())[0] - shift[0]) / scale[0]
    rows = (np.asarray(down.detach().cpu().double().numpy())[0] - shift[0]) / scale[0]
    top, bottom = _visible(rows.mean(1), side)
    left, right = _visible(columns.mean(0), side)
    return ModelInput((int(shape[1]), int(shape[2])), tuple(float(v) for v in scale),  # type: ignore[arg-type]
                      tuple(float(v) for v in shift), (top, bottom, left, right))  # type: ignore[arg-type]
