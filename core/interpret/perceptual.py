r"""Image distances for the interpretability index: LPIPS, and the LPIPS recipe over any trunk's features.

**LPIPS** (Zhang et al. 2018, the ``lpips`` package): AlexNet trunk, version 0.1 (the variant reported to track
human judgements, and the one Klindt et al. 2023 use for II). Its linear calibration weights ship inside the
package; the AlexNet trunk is torchvision's ImageNet checkpoint (``alexnet-owt-7be5be79.pth``), read from torch
hub's cache and downloaded only where allowed: offline without it, :class:`~brainbench.errors.WeightsNotFoundError`
names the file, where it was looked for and how to provide it. ``random_trunk=True`` (a seeded random AlexNet) is
for tests only.

**The LPIPS recipe without calibration** (:func:`feature_distance`, LPIPS' ``lpips=False`` baseline): for layer
feature maps :math:`f_l \in \mathbb{R}^{C_l \times H_l \times W_l}` of two images, each position's channel vector
unit-normalised, :math:`d = \sum_l \frac{1}{H_l W_l} \sum_{h,w} \lVert \hat f_l^{(1)}[:,h,w] - \hat
f_l^{(2)}[:,h,w] \rVert^2`.

Images go in as ``(n, 3, H, W)`` floats in [0, 1] (``normalize=True``, mapped to LPIPS' [-1, 1] as the package
does) or in [-1, 1]; an image outside the range is a :class:`~brainbench.errors.ConfigError`, never a silent
rescale. Distances are ``>= 0``; II uses similarity ``1 - d`` (:mod:`.index`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import check_count
from ..device import pick_device
from ..errors import ConfigError
from ..registry.contracts import ImageDistance

if TYPE_CHECKING:
    import torch

__all__ = ["ALEXNET_URL", "LPIPSDistance", "ModelFeatureDistance", "check_image_range", "feature_distance"]

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"  # torchvision AlexNet_Weights.IMAGENET1K_V1
EPS = 1e-10  # LPIPS' normalize_tensor


def check_image_range(images: Any, normalize: bool) -> torch.Tensor:
    """``images`` as a float32 ``(n, 3, H, W)`` tensor after checking they lie in [0, 1] (``normalize``) or
    [-1, 1]; :class:`~brainbench.errors.ConfigError` names the range found and the one expected."""
    import torch

    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    if x.ndim != 4 or x.shape[1] != 3:
        raise ConfigError(f"images must be (n, 3, height, width); got shape {tuple(x.shape)}")
    low, high = (0.0, 1.0) if normalize else (-1.0, 1.0)
    found = (float(x.min()), float(x.max())) if x.numel() else (low, high)
    if not torch.isfinite(x).all() or found[0] < low or found[1] > high:
        raise ConfigError(f"images must lie in [{low:g}, {high:g}] for LPIPS ({'normalize=True' if normalize else 'normalize=False'}); "
                          f"these span [{found[0]:.4g}, {found[1]:.4g}]: scale them yourself (e.g. uint8 / 255 with "
                          "normalize=True); brainbench does not guess a rescale")
    return x


def feature_distance(features_a: Sequence[torch.Tensor], features_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """Distances ``(n,)`` between matching images of two lists of layer feature maps, each ``(n, C, H, W)``: the
    uncalibrated LPIPS recipe (module docstring)."""
    import torch

    total = None
    for fa, fb in zip(features_a, features_b, strict=True):
        na = fa / (torch.sqrt((fa ** 2).sum(dim=1, keepdim=True)) + EPS)
        nb = fb / (torch.sqrt((fb ** 2).sum(dim=1, keepdim=True)) + EPS)
        layer = ((na - nb) ** 2).sum(dim=1).mean(dim=(1, 2))
        total = layer if total is None else total + layer
    if total is None:
        raise ConfigError("feature_distance needs at least one layer of features")
    return total


class LPIPSDistance(ImageDistance):
    """LPIPS between probe images, as :func:`~brainbench.interpret.index.interpretability_index` calls it:
    ``distance(a, b)`` for index arrays ``a``, ``b`` ``(m,)`` into ``images`` gives ``(m,)`` distances, pair by pair
    (``images[a[p]]`` against ``images[b[p]]``), in batches of ``batch_size`` pairs on ``device`` (CUDA when present).

    ``images``: the probe set, ``(n, 3, H, W)`` in [0, 1] (``normalize=True``) or [-1, 1]. Raises ConfigError for
    images out of range, WeightsNotFoundError for a missing AlexNet trunk offline.
    """

    def __init__(self, images: Any, *, normalize: bool = True, net: str = "alex", version: str = "0.1",
                 random_trunk: bool = False, seed: int = 0, device: str | None = None, batch_size: int = 32):
        import torch

        from ..extraction.torchvision_compat import import_torchvision

        import_torchvision()  # lpips imports torchvision's models
        import lpips

        if net != "alex":
            raise ConfigError(f"LPIPS net {net!r}: brainbench uses the AlexNet trunk ('alex'), the variant reported "
                              "to track human judgements")
        self.images = check_image_range(images, normalize)
        self.normalize, self.version = normalize, version
        self.name = f"LPIPS (AlexNet, v{version}{', random trunk: tests only' if random_trunk else ''})"
        self.batch_size = check_count(batch_size, "LPIPS batch size")
        self.device = pick_device(device)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")  # lpips' 'pretrained='
            torch.manual_seed(seed)
            model = lpips.LPIPS(net=net, version=version, pnet_rand=True, verbose=False)
        if not random_trunk:
            _load_alexnet_trunk(model)
        self.model = model.eval().to(self.device)
        self.random_trunk = random_trunk

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import torch

        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        out = np.empty(len(a))
        with torch.no_grad():
            for start in range(0, len(a), self.batch_size):
                ia, ib = a[start:start + self.batch_size], b[start:start + self.batch_size]
                x0 = self.images[torch.from_numpy(ia)].to(self.device)
                x1 = self.images[torch.from_numpy(ib)].to(self.device)
                d = self.model(x0, x1, normalize=self.normalize)
                out[start:start + len(ia)] = d.reshape(-1).double().cpu().numpy()
        return out


def _load_alexnet_trunk(model: Any) -> None:
    """Copy torchvision's ImageNet AlexNet convolutions into LPIPS' trunk (its five slices hold
    ``alexnet.features[i]`` under the name ``str(i)``)."""
    from ..extraction.weights import load_url_weights

    state = load_url_weights("LPIPS' AlexNet trunk", ALEXNET_URL)
    for slice_name in ("slice1", "slice2", "slice3", "slice4", "slice5"):
        for index, module in getattr(model.net, slice_name).named_children():
            if hasattr(module, "weight") and module.weight is not None:
                module.weight.data.copy_(state[f"features.{index}.weight"])
                module.bias.data.copy_(state[f"features.{index}.bias"])


class ModelFeatureDistance(ImageDistance):
    """The uncalibrated LPIPS recipe (:func:`feature_distance`) over feature maps of a brainbench torch model's
    ``layers``, e.g. ``brainbench.get_model("efficientnet_lite0")`` (ImageNet weights that work offline): a
    perceptual distance named for its trunk, ``"feature distance (efficientnet_lite0: layers ...)"``, where LPIPS'
    AlexNet is unavailable. Called like :class:`LPIPSDistance`: ``distance(a, b)`` for index arrays into ``images``.
    The distance is the recipe's sum over layers divided by the number of layers (the mean layer distance, in
    [0, 4]), so its scale does not grow with the layers chosen.

    ``images``: the probe set, ``(n, 3, H, W)`` in [0, 1]; each goes through the model's own preprocessing (as a
    PIL image) once, and its layers' ``(C, H, W)`` maps are kept, so memory is n x the layers' sizes (float32).
    Raises ConfigError for images out of range, a layer the model does not have (close matches), or a layer whose
    output is not a ``(C, H, W)`` map.
    """

    def __init__(self, model: Any, layers: Sequence[str], images: Any, *, device: str | None = None,
                 batch_size: int = 32):
        import torch
        from PIL import Image

        from ..errors import UnknownNameError

        pixels = check_image_range(images, normalize=True)
        names = dict(model.module.named_modules())
        for layer in layers:
            if layer not in names:
                raise UnknownNameError(f"layer of {model.label}", layer, [n for n in names if n])
        self.name = f"feature distance ({model.label}: layers {', '.join(layers)})"
        self.device = pick_device(device)
        module = model.module.eval().to(self.device)
        captured: dict[str, torch.Tensor] = {}
        hooks = [names[layer].register_forward_hook(
            lambda _m, _i, out, layer=layer: captured.__setitem__(layer, out)) for layer in layers]
        maps: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
        try:
            with torch.no_grad():
                for start in range(0, len(pixels), check_count(batch_size, "batch size")):
                    chunk = pixels[start:start + batch_size]
                    pil = [Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)) for img in chunk]
                    module(torch.stack([model.preprocess(p) for p in pil]).to(self.device))
                    for layer in layers:
                        out = captured[layer]
                        if not isinstance(out, torch.Tensor) or out.ndim != 4:
                            raise ConfigError(f"layer {layer!r} of {model.label} gives "
                                              f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}, "
                                              "not (batch, channels, height, width) maps; pick convolutional layers")
                        maps[layer].append(out.float().cpu())
        finally:
            for hook in hooks:
                hook.remove()
        self.maps = [torch.cat(maps[layer]) for layer in layers]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import torch

        ia, ib = torch.from_numpy(np.asarray(a, dtype=np.int64)), torch.from_numpy(np.asarray(b, dtype=np.int64))
        total = feature_distance([m[ia] for m in self.maps], [m[ib] for m in self.maps])
        return (total / len(self.maps)).double().numpy()
