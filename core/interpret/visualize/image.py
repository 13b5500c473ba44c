"""Image parameterisations for feature visualisation: what the optimiser changes, and the image it stands for.

Both follow the recipe of lucid/lucent (Olah et al. 2017, "Feature Visualization", Distill), written anew here:

- ``"fourier"`` (:class:`FourierImage`, the default): per colour channel, the coefficients of a real 2-D FFT
  (``torch.fft.rfft2`` layout, ``(3, h, w // 2 + 1)`` complex numbers kept as ``(..., 2)`` real pairs), scaled by
  ``1 / max(f, 1 / max(h, w)) ** decay`` (``f`` the frequency in cycles per pixel, ``decay`` = 1 by default), so
  a step of the optimiser changes low frequencies as much as high ones relative to natural images' 1/f spectrum;
  the image is ``irfft2(scaled, norm="ortho") / 4`` (lucid's factor, which keeps the start near grey);
- ``"pixel"`` (:class:`PixelImage`): one free value per pixel and channel, for comparison.

Either's three channels are then mixed by the colour matrix ``M`` (3 x 3, :func:`colour_matrix`: the identity, or
the square root of the RGB covariance of an image set, so the channels the optimiser moves are decorrelated colours)
and squashed into [0, 1] by a sigmoid. The coefficients start as seeded normal noise (sd 0.01, the recipe's), drawn
from a ``torch.Generator`` on the CPU, so the start is the same on every device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from ...checks import check_choice, check_count
from ...errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["PARAMETERISATIONS", "FourierImage", "PixelImage", "colour_matrix", "make_image"]

PARAMETERISATIONS = ("fourier", "pixel")
INIT_SD = 0.01  # lucid's and lucent's start: normal noise of this sd in the parameters


def colour_matrix(source: Any = None) -> np.ndarray:
    """The 3 x 3 colour matrix ``M`` the parameterisations mix channels with (module docstring).

    ``source`` is ``None`` or ``"identity"`` (no mixing); a ``(3, 3)`` array (used as given); or images, a
    ``(n, h, w, 3)`` array (uint8 0-255 or floats in [0, 1]) or a stimulus set (its images as RGB): then ``M`` is
    the symmetric square root ``U diag(sqrt(l)) U^T`` of the images' RGB covariance (``l, U`` its eigenvalues and
    vectors), divided by its largest column norm (as lucid normalises its ImageNet matrix, which was computed the
    same way), so the decorrelated channels carry natural images' colour statistics. Raises ConfigError for any
    other shape, non-finite values, or a set of images without colour variance."""
    if source is None or (isinstance(source, str) and source == "identity"):
        return np.eye(3)
    if isinstance(source, str):
        raise ConfigError(f"colour {source!r}: give 'identity', a 3 x 3 matrix, or images to compute it from")
    if hasattr(source, "ids") and hasattr(source, "image"):  # a stimulus set
        pixels = np.concatenate([np.asarray(source.image(s).convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255
                                 for s in source.ids])
    else:
        array = np.asarray(source)
        if array.shape == (3, 3):
            if not np.isfinite(array).all():
                raise ConfigError("the colour matrix has non-finite values")
            return array.astype(np.float64)
        if array.ndim != 4 or array.shape[-1] != 3:
            raise ConfigError(f"colour images must be an (n, h, w, 3) array; got shape {array.shape}")
        pixels = array.reshape(-1, 3).astype(np.float64) / (255 if array.dtype == np.uint8 else 1)
    if not np.isfinite(pixels).all():
        raise ConfigError("the colour images have non-finite values")
    values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
    root = vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T
    norm = np.linalg.norm(root, axis=0).max()
    if not norm > 0:
        raise ConfigError("the colour images have no colour variance (all pixels equal); give other images or "
                          "'identity'")
    return root / norm


def frequency_scale(h: int, w: int, decay: float = 1.0) -> np.ndarray:
    """``1 / max(f, 1 / max(h, w)) ** decay`` over the rfft2 grid ``(h, w // 2 + 1)``, ``f = sqrt(fy^2 + fx^2)`` in
    cycles per pixel (the constant term takes the lowest nonzero frequency's scale)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return 1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / max(h, w)) ** decay


class _Image(ABC):
    """An image parameterisation: ``params`` (the tensors to optimise) and ``()`` -> ``(1, 3, h, w)`` in [0, 1]."""

    def __init__(self, size: int, colour: np.ndarray, device: str):
        import torch

        self.size = size
        self.colour = torch.as_tensor(colour, dtype=torch.float32, device=device)
        self.params: list[torch.Tensor] = []

    @abstractmethod
    def _channels(self) -> torch.Tensor:
        """The image ``(3, h, w)`` before colour mixing and the sigmoid."""

    def __call__(self) -> torch.Tensor:
        import torch

        mixed = torch.einsum("ij,jhw->ihw", self.colour, self._channels())
        return torch.sigmoid(mixed)[None]


class FourierImage(_Image):
    """The decorrelated Fourier parameterisation (module docstring)."""

    def __init__(self, size: int, colour: np.ndarray, generator: torch.Generator, device: str, decay: float = 1.0):
        import torch

        super().__init__(size, colour, device)
        shape = (3, size, size // 2 + 1, 2)
        start = torch.randn(shape, generator=generator, dtype=torch.float32) * INIT_SD
        self.coefficients = start.to(device).requires_grad_(True)
        self.scale = torch.as_tensor(frequency_scale(size, size, decay), dtype=torch.float32, device=device)
        self.params = [self.coefficients]

    def _channels(self) -> torch.Tensor:
        import torch

        spectrum = torch.view_as_complex(self.coefficients) * self.scale
        return torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4


class PixelImage(_Image):
    """One free value per pixel and channel (module docstring)."""

    def __init__(self, size: int, colour: np.ndarray, generator: torch.Generator, device: str):
        import torch

        super().__init__(size, colour, device)
        start = torch.randn((3, size, size), generator=generator, dtype=torch.float32) * INIT_SD
        self.pixels = start.to(device).requires_grad_(True)
        self.params = [self.pixels]

    def _channels(self) -> torch.Tensor:
        return self.pixels


def make_image(param: str, size: int, colour: Any, generator: torch.Generator, device: str,
               decay: float = 1.0) -> _Image:
    """A ``param`` ("fourier" or "pixel") image of ``size`` x ``size`` pixels with :func:`colour_matrix` ``(colour)``,
    its start drawn from ``generator``. Raises ConfigError for an unknown parameterisation or a size below 8."""
    check_choice(param, "image parameterisation", PARAMETERISATIONS)
    size = check_count(size, "image size", minimum=8)
    matrix = colour_matrix(colour)
    if param == "fourier":
        return FourierImage(size, matrix, generator, device, decay)
    return PixelImage(size, matrix, generator, device)
