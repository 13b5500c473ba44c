"""torchvision classification models (ImageNet weights from torchvision's cache, or random)."""

from __future__ import annotations

from functools import partial
from brainbench import ModelCard, hookimpl
from brainbench.torch_model import TorchModel

# name -> (architecture family, parameter count, candidate layers for scoring)
MODELS = {
    "resnet18": (
        "resnet",
        11_689_512,
        ["maxpool", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1", "avgpool"],
    ),
}
DEFAULT_WEIGHTS = "imagenet1k_v1"


def build(name: str, weights: str | None = None, seed: int = 0) -> TorchModel:
    import torch

    from brainbench.torchvision_compat import import_torchvision

    from .weights import resolve_weights

    tv = import_torchvision()
    enum = tv.models.get_model_weights(name)
    published = {w.name.lower(): w for w in enum}
    weights = resolve_weights(name, (weights or DEFAULT_WEIGHTS).lower(), [*published, "random"])
    preprocess_from = published.get(weights, enum.DEFAULT)
    torch.manual_seed(seed)
    module = tv.models.get_model(name, weights=None)
    if weights != "random":
        from .weights import load_url_weights

        module.load_state_dict(load_url_weights(name, published[weights].url))
    return TorchModel(
        module,
        preprocess_from.transforms(),
        card(name),
        weights=weights,
        default_layers=MODELS[name][2],
        seed=seed,
    )


def card(name: str) -> ModelCard:
    family, params, _ = MODELS[name]
    return ModelCard(
        name=name,
        description=f"torchvision {name}, ImageNet-1k classification",
        source="torchvision",
        architecture=family,
        task="classification",
        training_data="imagenet1k",
        input_size=224,
        parameters=params,
        weights=[DEFAULT_WEIGHTS, "random"],
        offline_weights=False,
        url="https://pytorch.org/vision/stable/models.html",
    )


@hookimpl
def register_models(register):
    for name in MODELS:
        register(card(name), partial(build, name))
