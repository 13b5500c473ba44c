"""A :class:`~brainbench.registry.contracts.Model` over any ``torch.nn.Module``, read out through forward hooks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..registry.cards import ModelCard
from ..registry.contracts import Model
from ..device import pick_device
from .identity import ModuleIdentity, module_tree
from ..data.stimuli import to_rgb_image

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from .features import Features
    from .layers import LayerInfo
    from ..data.stimuli import StimulusSet

__all__ = ["TorchModel", "blocks", "wrap"]


def blocks(module: torch.nn.Module) -> list[str]:
    """Default candidate layers: the top-level children, and the members of every Sequential or
    ModuleList (of at least two) that is not inside another such member — resnet's ``layer1.0``,
    a ViT's encoder blocks, but not the layers inside a block."""
    from torch import nn

    names = [name for name, _ in module.named_children()]
    members: list[str] = []
    for name, m in module.named_modules():
        inside = any(name.startswith(f"{member}.") for member in members)
        if name and not inside and isinstance(m, (nn.Sequential, nn.ModuleList)) and len(m) >= 2:
            members += [f"{name}.{child}" for child, _ in m.named_children()]
    order = {name: i for i, (name, _) in enumerate(module.named_modules())}
    return sorted(dict.fromkeys(names + members), key=order.__getitem__)


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
        prefix_tokens: int | None = None,
        modality: str = "image",
        token_mask: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.module = module.eval()
        self.preprocess = preprocess
        self.card, self.weights, self.seed, self.prefix_tokens = card, weights, seed, prefix_tokens
        self.modality = modality  # "image": preprocess takes a PIL image; "text": a caption string
        # a tuned model: what it was tuned on ({"benchmark", "dataset", "stimulus_ids": {"train", "val", "test"}}),
        # so scoring it on the stimuli it learnt from is refused (brainbench.scoring.scorer._check_leakage)
        self.tuned_on: dict[str, Any] | None = None
        self.token_mask = token_mask  # input batch -> (batch, tokens) bool, False at padding; for --tokens mean
        self._default_layers = list(default_layers) if default_layers else None  # None: the module's blocks
        self._state = ModuleIdentity()
        self._code: tuple[frozenset[type], dict[str, str]] | None = None  # (module classes, their packages)
        self._traced: tuple[str, list[LayerInfo]] | None = None  # (probe batch and identity key, table): the last trace

    @property
    def layers(self) -> list[str]:
        return [info.name for info in self.layer_table()]

    @property
    def default_layers(self) -> list[str]:
        """Candidate layers for scoring: names, globs or depth ranges (see :mod:`brainbench.extraction.layers`); unless given
        at wrapping, the module's :func:`blocks` as they are now (a replaced submodule brings its own)."""
        return list(self._default_layers) if self._default_layers is not None else blocks(self.module)

    def layer_table(self, stimuli: StimulusSet | None = None, *, device: str | None = None) -> list[LayerInfo]:
        """Every layer with its depth, output shape and duplicates, traced on two stimuli
        (the first two of ``stimuli``, or two fixed noise images)."""
        import torch

        device = pick_device(device)
        if stimuli is None:
            rng = np.random.default_rng(0)
            size = self.card.input_size or 224
            inputs = ([to_rgb_image(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(2)]
                      if self.modality == "image" else ["a photo of a dog on a sofa", "two trains at a station"])
            batch = torch.stack([self.preprocess(x) for x in inputs]).to(device)
        else:
            from .inputs import _batch  # stimuli of several preprocessed sizes are an error naming them

            batch = _batch(self, stimuli, stimuli.ids[:2] if len(stimuli) >= 2 else stimuli.ids * 2).to(device)
        self.module.to(device)
        return self.trace(batch)

    def trace(self, batch: torch.Tensor, *, identity: dict[str, Any] | None = None) -> list[LayerInfo]:
        """The layer table traced on ``batch``; the last one is reused while the batch, the device and the model's
        :meth:`identity` (``identity``, when the caller has just read it) are the same."""
        from .layers import trace

        identity = identity or self.identity()
        key = hashlib.sha256(batch.detach().cpu().contiguous().numpy().tobytes())
        key.update(f"{batch.device}:{self.prefix_tokens}:{json.dumps(identity, sort_keys=True)}".encode())
        if self._traced is None or self._traced[0] != key.hexdigest():
            self._traced = (key.hexdigest(), trace(self.module, batch, prefix_tokens=self.prefix_tokens))
        return self._traced[1]

    def stimulus(self, stimuli: StimulusSet, stimulus_id: str) -> Any:
        """What ``preprocess`` takes for one stimulus: its image, or its caption for text models."""
        return stimuli.text(stimulus_id) if self.modality == "text" else stimuli.image(stimulus_id)

    def preprocess_fingerprint(self) -> str:
        """Hash of the preprocessing (its description and its output on a probe image), computed on every call
        (milliseconds): a transform changed or replaced after wrapping changes it."""
        from .provenance import preprocess_fingerprint

        return preprocess_fingerprint(self)

    def code_versions(self) -> dict[str, str]:
        """The versions of the code the forward pass runs (:func:`brainbench.extraction.provenance.forward_code`, found again
        when the module's classes change), and the ``"module tree"``
        (:func:`brainbench.extraction.identity.module_tree`: every submodule's path, class, settings and hooks, read on
        every call), so a submodule replaced after wrapping changes them."""
        from .provenance import forward_code

        classes = frozenset(type(m) for m in self.module.modules())
        if self._code is None or self._code[0] != classes:
            self._code = (classes, forward_code(self.module))
        return {**self._code[1], "module tree": module_tree(self.module)}

    def weights_hash(self) -> str:
        """sha256 over the module's state as it is now (:func:`brainbench.extraction.identity.state_hash`): the state dict
        (names, dtypes, shapes, bytes), buffers left out of it, and the submodules in training mode, if any.
        Recomputed only when the state's content fingerprint changes (:func:`~brainbench.extraction.identity.state_fingerprint`,
        read on every call: 0.63 s for a 304M-parameter ViT-L on a 2-core CPU, against 2.2 s for the sha256), so it
        follows every in-place change: an optimiser step, ``load_state_dict``, writes through ``.data`` or numpy
        views, batch-norm statistics, ``train()``/``eval()``."""
        return self._state.state_hash(self.module)

    def identity(self) -> dict[str, Any]:
        """What the features are computed with, read now: ``{"weights_hash": ..., "code": ...}`` (the activation
        cache key, the trace cache, the features' attributes and score provenance use it)."""
        return {"weights_hash": self.weights_hash(), "code": self.code_versions()}

    def extract(
        self,
        stimuli: StimulusSet,
        layers: Sequence[str] | None = None,
        *,
        batch_size: int | None = None,
        device: str | None = None,
        progress: bool = True,
        **options: Any,
    ) -> Features:
        """Features at ``layers`` (names, globs, ``depth:LO-HI``); ``options`` (an ``options=``
        :class:`~brainbench.ExtractionOptions`, or its fields as keywords) go to :func:`brainbench.extract`."""
        from .run import extract

        return extract(self, stimuli, layers, batch_size=batch_size, device=device, progress=progress, **options)


def wrap(
    module: torch.nn.Module,
    preprocess: Callable[[Image.Image], torch.Tensor],
    *,
    name: str,
    layers: Sequence[str] | None = None,
    weights: str = "custom",
    prefix_tokens: int | None = None,
    modality: str = "image",
    token_mask: Callable[[torch.Tensor], torch.Tensor] | None = None,
    **card: Any,
) -> TorchModel:
    """Make any module scorable: ``brainbench.wrap(net, transform, name="mynet")``.

    ``prefix_tokens``: for transformers, how many tokens (CLS, registers) precede the patch tokens.
    ``modality="text"``: ``preprocess`` takes a caption; ``token_mask(batch)`` marks real (not padding) tokens.
    ``card`` fields (source, task, training_data...) describe the model for listings.

    ``module`` itself is wrapped, not a copy: wrapping puts it in evaluation mode (``module.eval()``: dropout off,
    batch norm on its running statistics), as features are read; later changes to it (weights, buffers,
    ``train()``) change the wrapped model's identity (:mod:`brainbench.extraction.identity`)."""
    card.setdefault("source", "user")
    card.setdefault("architecture", type(module).__name__)
    card.setdefault("weights", [weights])
    card.setdefault("parameters", sum(p.numel() for p in module.parameters()))
    return TorchModel(module, preprocess, ModelCard(name=name, **card), weights=weights, default_layers=layers,
                      prefix_tokens=prefix_tokens, modality=modality, token_mask=token_mask)
