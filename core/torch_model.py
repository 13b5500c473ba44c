"""A :class:`~brainbench.contracts.Model` over any ``torch.nn.Module``, read out through forward hooks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .cards import ModelCard
from .contracts import Model
from .device import pick_device
from .errors import BrainbenchError, UnknownNameError
from .progress import progress

if TYPE_CHECKING:
    import torch
    import xarray as xr
    from PIL import Image

    from .stimuli import StimulusSet

__all__ = ["TorchModel", "wrap"]


def _first_tensor(output: Any) -> torch.Tensor:
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if isinstance(output, dict):
        for value in output.values():
            if isinstance(value, torch.Tensor):
                return value
    raise BrainbenchError(f"layer output of type {type(output).__name__} holds no tensor to read out")


class TorchModel(Model):
    """A torch module plus its preprocessing; every named submodule is a readable layer."""

    def __init__(
        self,
        module: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        card: ModelCard,
        *,
        weights: str,
        default_layers: Sequence[str] | None = None,
        seed: int = 0,
    ):
        self.module = module.eval()
        self.preprocess = preprocess
        self.card, self.weights, self.seed = card, weights, seed
        self._layers = [name for name, _ in module.named_modules() if name]
        self._default_layers = list(default_layers) if default_layers else self._layers
        self._check_layers(self._default_layers)
        self._hash: str | None = None

    @property
    def layers(self) -> list[str]:
        return list(self._layers)

    @property
    def default_layers(self) -> list[str]:
        return list(self._default_layers)

    def _check_layers(self, layers: Sequence[str]) -> None:
        for layer in layers:
            if layer not in self._layers:
                raise UnknownNameError(f"layer of {self.name}", layer, self._layers)

    def weights_hash(self) -> str:
        """sha256 over the state dict (names, dtypes, shapes, bytes), computed once."""
        if self._hash is None:
            import torch

            h = hashlib.sha256()
            for key, tensor in sorted(self.module.state_dict().items()):
                t = tensor.detach().cpu().contiguous()
                h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
            self._hash = h.hexdigest()
        return self._hash

    def extract(
        self,
        stimuli: StimulusSet,
        layers: Sequence[str],
        *,
        batch_size: int | None = None,
        device: str | None = None,
        progress: bool = True,
    ) -> dict[str, xr.DataArray]:
        import torch
        import xarray as xr

        layers = list(dict.fromkeys(layers))
        self._check_layers(layers)
        device = pick_device(device)
        batch_size = batch_size or 32
        modules = dict(self.module.named_modules())
        n = len(stimuli)
        outputs: dict[str, np.ndarray] = {}  # one (n, units) array per layer, filled batch by batch
        calls = dict.fromkeys(layers, 0)
        offset = 0

        def hook_for(layer: str) -> Callable[..., None]:
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                calls[layer] += 1
                if calls[layer] > 1:
                    raise BrainbenchError(
                        f"layer {layer!r} of {self.label} runs more than once per forward pass (a shared module), "
                        "so its output is ambiguous; read out the layer that feeds it or follows it instead"
                    )
                out = _first_tensor(output).detach()
                flat = out.reshape(out.shape[0], -1)
                if layer not in outputs:
                    outputs[layer] = np.empty((n, flat.shape[1]), dtype=np.float32)
                # copying lets torch reuse the activation's memory for the next batch
                outputs[layer][offset : offset + flat.shape[0]] = flat.float().cpu().numpy()

            return hook

        handles = [modules[layer].register_forward_hook(hook_for(layer)) for layer in layers]
        ids = stimuli.ids
        starts = range(0, n, batch_size)
        self.module.to(device)
        try:
            with torch.inference_mode():
                for offset in _progress(starts, progress, f"{self.label}: extracting {len(layers)} layers"):
                    batch_ids = ids[offset : offset + batch_size]
                    x = torch.stack([self.preprocess(stimuli.image(s)) for s in batch_ids]).to(device)
                    calls.update(dict.fromkeys(layers, 0))
                    try:
                        self.module(x)
                    except BrainbenchError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - report which model and stimuli broke
                        raise BrainbenchError(
                            f"model {self.label} failed on stimuli {batch_ids[0]}..{batch_ids[-1]} "
                            f"(input {tuple(x.shape)}): {type(exc).__name__}: {exc}"
                        ) from exc
        finally:
            for handle in handles:
                handle.remove()
        features = {}
        for layer in layers:
            if layer not in outputs:
                raise BrainbenchError(f"layer {layer!r} of {self.label} never ran in the forward pass, so it cannot be read out")
            values = outputs[layer]
            features[layer] = xr.DataArray(
                values,
                dims=("presentation", "neuroid"),
                coords={
                    "stimulus_id": ("presentation", ids),
                    "unit": ("neuroid", np.arange(values.shape[1])),
                    "layer": ("neuroid", np.full(values.shape[1], layer, dtype=object)),
                },
                attrs={"model": self.label, "weights": self.weights, "layer": layer},
            )
        return features


def _progress(items: range, enabled: bool, description: str) -> Any:
    return progress(items, total=len(items), description=description, enabled=enabled)


def wrap(
    module: torch.nn.Module,
    preprocess: Callable[[Image.Image], torch.Tensor],
    *,
    name: str,
    layers: Sequence[str] | None = None,
    weights: str = "custom",
    **card: Any,
) -> TorchModel:
    """Make any module scorable: ``brainbench.wrap(net, transform, name="mynet")``."""
    card.setdefault("source", "user")
    card.setdefault("architecture", type(module).__name__)
    card.setdefault("weights", [weights])
    card.setdefault("parameters", sum(p.numel() for p in module.parameters()))
    return TorchModel(module, preprocess, ModelCard(name=name, **card), weights=weights, default_layers=layers)
