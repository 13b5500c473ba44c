"""The generator network behind the synthetic benchmark: a small CNN with seeded weights.

Its weights come from numpy's PCG64 generator (stable across platforms and torch versions),
so the synthetic responses, and the right answer for them, are the same everywhere: the
``synthetic.early`` neuroids are a linear readout of ``block1``, ``synthetic.late`` of ``block3``.

It lives in the core because two built-in plugins use it: the ``synthetic`` dataset builds its responses
from it, and the ``synthetic_generator`` model plugin registers it (:func:`card`, :func:`build`) so it can be
scored. The network's class keeps the module and qualified name it had in that plugin
(:data:`CLASS_MODULE`), since a model's ``"module tree"`` (its activation-cache key and score provenance,
:func:`brainbench.extraction.identity.module_tree`) names each submodule's class.
"""

from __future__ import annotations

import numpy as np

from brainbench.registry.cards import ModelCard

from .weights import resolve_weights

__all__ = ["INPUT_SIZE", "NAME", "PARAMETERS", "WEIGHTS_SEED", "build", "build_module", "card", "preprocess"]

NAME = "synthetic_generator"
INPUT_SIZE = 64
WEIGHTS_SEED = 20_240_601
PARAMETERS = 26_922  # checked against the module by the tests; listing must not import torch
CLASS_MODULE = "brainbench.plugins.models.synthetic_generator"  # where the class was defined until issue 20


def build_module(weights: str = "fixed", seed: int = 0):
    """The generator network (``torch.nn.Module`` in eval mode; input ``(batch, 3, 64, 64)``, output
    ``(batch, 10)``): ``weights="fixed"`` draws its weights from seed :data:`WEIGHTS_SEED`, ``"random"`` from
    ``seed``; each weight is standard normal times sqrt(2 / fan_in), each bias times 0.05."""
    import torch
    from torch import nn

    class GeneratorNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block1 = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(), nn.AvgPool2d(4))
            self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
            self.block3 = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(256, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.block3(self.block2(self.block1(x))))

    # Named as where it was defined before it moved into the core: the module tree, and so cache keys, stay.
    GeneratorNet.__module__, GeneratorNet.__qualname__ = CLASS_MODULE, "build_module.<locals>.GeneratorNet"
    module = GeneratorNet()
    rng = np.random.default_rng(WEIGHTS_SEED if weights == "fixed" else seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            fan_in = int(np.prod(p.shape[1:])) if p.dim() > 1 else 1
            scale = np.sqrt(2.0 / fan_in) if name.endswith("weight") else 0.05
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)) * scale).float())
    return module.eval()


def preprocess(image):
    """A PIL image -> ``(3, 64, 64)`` float32 tensor in [-1, 1] (resized to 64x64, (x / 255 - 0.5) / 0.5)."""
    import torch

    arr = np.asarray(image.resize((INPUT_SIZE, INPUT_SIZE)), dtype=np.float32) / 255.0
    return torch.from_numpy((arr - 0.5) / 0.5).permute(2, 0, 1).contiguous()


def build(weights: str | None = None, seed: int = 0):
    """The generator as a :class:`~brainbench.extraction.torch_model.TorchModel` (candidate layers ``block1-3``);
    ``weights`` is ``"fixed"`` (default) or ``"random"``, another tag raises ``UnknownNameError`` listing both."""
    from .torch_model import TorchModel

    weights = resolve_weights(NAME, weights, ["fixed", "random"])
    return TorchModel(build_module(weights, seed), preprocess, card(), weights=weights,
                      default_layers=["block1", "block2", "block3"], seed=seed)


def card() -> ModelCard:
    """The model card the ``synthetic_generator`` plugin registers."""
    return ModelCard(
        name=NAME,
        description="Seeded 3-block CNN that generates the synthetic benchmark's responses (its known answer).",
        source="brainbench",
        architecture="cnn",
        task="none",
        training_data="none",
        input_size=INPUT_SIZE,
        parameters=PARAMETERS,
        weights=["fixed", "random"],
        offline_weights=True,
    )
