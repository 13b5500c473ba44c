"""The generator network behind the synthetic benchmark: a small CNN with seeded weights.

Its weights come from numpy's PCG64 generator (stable across platforms and torch versions),
so the synthetic responses, and the right answer for them, are the same everywhere: the
``synthetic.early`` neuroids are a linear readout of ``block1``, ``synthetic.late`` of ``block3``.
"""

from __future__ import annotations

import numpy as np

from brainbench import ModelCard, hookimpl

NAME = "synthetic_generator"
INPUT_SIZE = 64
WEIGHTS_SEED = 20_240_601
PARAMETERS = 26_922  # checked against the module by the tests; listing must not import torch


def build_module(weights: str = "fixed", seed: int = 0):
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

    module = GeneratorNet()
    rng = np.random.default_rng(WEIGHTS_SEED if weights == "fixed" else seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            fan_in = int(np.prod(p.shape[1:])) if p.dim() > 1 else 1
            scale = np.sqrt(2.0 / fan_in) if name.endswith("weight") else 0.05
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)) * scale).float())
    return module.eval()


def preprocess(image):
    import torch

    arr = np.asarray(image.resize((INPUT_SIZE, INPUT_SIZE)), dtype=np.float32) / 255.0
    return torch.from_numpy((arr - 0.5) / 0.5).permute(2, 0, 1).contiguous()


def build(weights: str | None = None, seed: int = 0):
    from brainbench.extraction.torch_model import TorchModel

    from .weights import resolve_weights

    weights = resolve_weights(NAME, weights, ["fixed", "random"])
    return TorchModel(build_module(weights, seed), preprocess, card(), weights=weights,
                      default_layers=["block1", "block2", "block3"], seed=seed)


def card() -> ModelCard:
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


@hookimpl
def register_models(register):
    register(card(), build)
