"""Random transforms applied to the image at every optimisation step (transformation robustness, Olah et al.
2017), with torch's own operations only, their randomness drawn from one ``torch.Generator`` on the CPU (so a
seeded run is the same run on every device, and bit for bit the same on the CPU).

:func:`standard_transforms` is lucid/lucent's default chain with its settings: pad by 12 pixels with grey (0.5),
jitter by up to 8 pixels, scale by a factor from 0.9 to 1.1 in steps of 0.02, rotate by an angle from -10 to 10
degrees in whole degrees (0 five times more likely), jitter by up to 4 pixels. Each transform takes and returns an
image batch ``(b, 3, h, w)`` and takes the generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["TRANSFORMS", "Transform", "jitter", "pad", "random_rotate", "random_scale", "standard_transforms"]

Transform = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]
TRANSFORMS = ("standard", "none")


def _pick(options: Sequence[float], generator: torch.Generator) -> float:
    import torch

    return float(options[int(torch.randint(len(options), (1,), generator=generator))])


def pad(pixels: int, value: float = 0.5) -> Transform:
    """Pad ``pixels`` on every side with the constant ``value``."""
    def apply(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch.nn.functional as F

        return F.pad(image, (pixels, pixels, pixels, pixels), mode="constant", value=value)
    return apply


def jitter(pixels: int) -> Transform:
    """A random integer translation, as lucid's jitter: crop ``pixels`` rows and columns away, starting at a random
    offset from 0 to ``pixels - 1`` on each axis (the image shrinks by ``pixels`` on each axis)."""
    def apply(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        if pixels < 1:
            return image
        dy, dx = (int(v) for v in torch.randint(pixels, (2,), generator=generator))
        h, w = image.shape[-2:]
        return image[..., dy:h - pixels + dy, dx:w - pixels + dx]
    return apply


def random_scale(factors: Sequence[float]) -> Transform:
    """Resize by a factor drawn from ``factors`` (bilinear, ``torch.nn.functional.interpolate``)."""
    def apply(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch.nn.functional as F

        factor = _pick(factors, generator)
        size = [max(1, round(s * factor)) for s in image.shape[-2:]]
        return F.interpolate(image, size=size, mode="bilinear", align_corners=False)
    return apply


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by an angle drawn from ``degrees`` (positive: counterclockwise as displayed, 90 is
    ``torch.rot90(image, 1, (2, 3))``; ``affine_grid`` and bilinear ``grid_sample``; pixels from outside the image
    take the nearest border pixel's value)."""
    def apply(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        angle = math.radians(_pick(degrees, generator))
        c, s = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=image.dtype, device=image.device)
        grid = F.affine_grid(theta.expand(image.shape[0], 2, 3), list(image.shape), align_corners=False)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return apply


def standard_transforms() -> list[Transform]:
    """lucid/lucent's default chain (module docstring)."""
    return [pad(12), jitter(8), random_scale([1 + (i - 5) / 50 for i in range(11)]),
            random_rotate(list(range(-10, 11)) + [0] * 5), jitter(4)]
