"""Feature visualisation by optimisation: the image that maximises an objective (Olah et al. 2017, lucid/lucent's
recipe; the parts in :mod:`.image`, :mod:`.transforms`, :mod:`.objectives` and :mod:`.voxel`).

Each of ``steps`` steps: the parameterised image (``(1, 3, size, size)`` in [0, 1]) goes through the random
transforms, the model's preprocessing (differentiable, :func:`~.objectives.model_input`) and the model up to the
objective's layer; Adam (``lr``) takes a step on the image's parameters to increase the objective. The model is in
evaluation mode throughout and its weights do not change (their ``requires_grad`` is off during the run and
restored after it, as is the module's training mode). A run is seeded (the image's start and every transform's
draw come from ``torch.Generator().manual_seed(seed)`` on the CPU) and deterministic on the CPU: the same seed
gives the same image bit for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...checks import check_choice, check_count, check_seed
from ...errors import ConfigError
from .image import PARAMETERISATIONS, make_image
from .objectives import LayerTap, model_input, resolve_layer
from .transforms import TRANSFORMS, Transform, standard_transforms

if TYPE_CHECKING:
    import torch

__all__ = ["Visualisation", "check_settings", "visualize"]


@dataclass(frozen=True)
class Visualisation:
    """The optimised ``image`` ``(size, size, 3)`` float32 in [0, 1]; ``curve`` ``(steps,)`` the objective at
    each step (on that step's transformed image, before the step); ``before`` and ``after`` the objective on the
    untransformed image at the start and the end; the ``settings`` of the run."""

    image: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)
    before: float
    after: float
    settings: dict[str, Any]

    def save_png(self, path: str | Path) -> Path:
        """Write the image as an 8-bit RGB PNG (values rounded) atomically (a failed write leaves no file), with
        the settings as a ``brainbench`` text chunk; ConfigError for a path that does not end in .png."""
        from PIL import Image, PngImagePlugin

        from ...data.files import atomic_path

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ConfigError(f"{path}: a visualisation is written as PNG; give a path ending in .png")
        info = PngImagePlugin.PngInfo()
        info.add_text("brainbench", json.dumps(self.settings))
        pixels = np.clip(np.rint(self.image * 255), 0, 255).astype(np.uint8)
        with atomic_path(path) as tmp:
            Image.fromarray(pixels, "RGB").save(tmp, format="PNG", pnginfo=info)
        return path


def check_settings(steps: object, lr: object, size: object, param: object, decay: object, transforms: object,
                   seed: object) -> tuple[int, float, int, float, int, list[Transform]]:
    """The run's settings checked (ConfigError naming the bad one) and the transform chain: what :func:`visualize`
    checks before any work, offered so that a caller can check them before work of its own (a voxel's fit)."""
    steps = check_count(steps, "steps", hint="the number of optimisation steps; 256 is usual")
    lr, decay = _positive(lr, "learning rate (lr)"), _positive(decay, "Fourier decay power")
    size = check_count(size, "image size", minimum=8)
    check_choice(param, "image parameterisation", PARAMETERISATIONS)
    if isinstance(transforms, str):
        check_choice(transforms, "transforms", TRANSFORMS)
        chain = standard_transforms() if transforms == "standard" else []
    elif isinstance(transforms, Sequence) and all(callable(t) for t in transforms):
        chain = list(transforms)
    else:
        raise ConfigError(f"transforms must be one of {', '.join(TRANSFORMS)} or a list of transforms; got "
                          f"{transforms!r}")
    return steps, lr, size, decay, check_seed(seed), chain


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} must be a positive number; got {value!r}")
    return float(value)


def visualize(model: Any, objective: Any, *, steps: int = 256, lr: float = 0.05, size: int = 128,
              param: str = "fourier", colour: Any = None, decay: float = 1.0,
              transforms: str | Sequence[Transform] = "standard", seed: int = 0, device: str | None = None,
              preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Visualisation:
    """Optimise an image of ``size`` x ``size`` pixels to maximise ``objective`` (a :class:`~.objectives.Unit`,
    :class:`~.objectives.Channel`, :class:`~.objectives.Direction` or :class:`~.voxel.Voxel`) of ``model`` (a
    brainbench torch model), as the module docstring says. ``param`` is "fourier" or "pixel" (:mod:`.image`),
    ``colour`` its colour matrix or the images to compute it from (:func:`~.image.colour_matrix`; default the
    identity), ``decay`` the Fourier scale's power; ``transforms`` "standard" (lucid's chain), "none" or a list of
    transforms; ``device`` as :func:`~brainbench.device.pick_device` (CUDA when present); ``preprocess`` a
    differentiable replacement for the model's own preprocessing. Every argument is checked before any work:
    ConfigError for steps < 1, lr or decay not positive, an unknown parameterisation or transform chain, a seed out
    of range, an index out of the layer's range (naming its size), a direction of the wrong length; UnknownNameError
    (with close matches) for a layer the model does not have."""
    import torch

    from ...device import pick_device

    steps, lr, size, decay, seed, chain = check_settings(steps, lr, size, param, decay, transforms, seed)
    device = pick_device(device)
    to_input = preprocess if preprocess is not None else model_input(model)
    info = resolve_layer(model, objective.layer, device)
    objective = objective.check(info)

    module = model.module
    training, grads = module.training, [p.requires_grad for p in module.parameters()]
    generator = torch.Generator().manual_seed(seed)
    try:
        module.eval().to(device)
        for p in module.parameters():
            p.requires_grad_(False)
        image = make_image(param, size, colour, generator, device, decay)
        optimiser = torch.optim.Adam(image.params, lr=lr)
        curve = np.empty(steps)
        with LayerTap(module, info) as tap:
            def evaluate() -> float:
                with torch.no_grad():
                    return float(objective(tap(to_input(image()))).mean())

            before = evaluate()
            for step in range(steps):
                optimiser.zero_grad(set_to_none=True)
                x = image()
                for transform in chain:
                    x = transform(x, generator)
                value = objective(tap(to_input(x))).mean()
                (-value).backward()
                optimiser.step()
                curve[step] = float(value.detach())
            after = evaluate()
            with torch.no_grad():
                final = image()[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
    finally:
        for p, flag in zip(module.parameters(), grads, strict=True):
            p.requires_grad_(flag)
        module.train(training)
    settings = {**objective.describe(), "model": getattr(getattr(model, "card", None), "name", ""),
                "layer": info.name, "steps": steps, "lr": lr, "size": size, "param": param, "decay": decay,
                "colour": np.asarray(image.colour.cpu()).round(6).tolist(),
                "transforms": transforms if isinstance(transforms, str) else "custom", "seed": seed,
                "device": device}
    if not np.isfinite(curve).all():
        bad = int(np.flatnonzero(~np.isfinite(curve))[0])
        raise ConfigError(f"the objective became {curve[bad]} at step {bad}; lower the learning rate (lr={lr})")
    return Visualisation(final, curve, before, after, settings)
