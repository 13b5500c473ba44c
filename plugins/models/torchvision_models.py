"""Every torchvision classification model, with each of its weights enums and the weights' own transforms.

``resnet18`` builds the default weights, ``resnet18.imagenet1k_v1`` (or ``--weights imagenet1k_v1``)
a named one, ``--weights random`` a seeded random initialisation. Weights come from torch hub's
cache (``$TORCH_HOME/hub/checkpoints``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from brainbench import hookimpl
from brainbench.device import seeded
from brainbench.extraction.model_tables import card, read_table
from brainbench.extraction.torch_model import TorchModel

TABLE = Path(__file__).parent / "tables" / "torchvision.csv"  # package data, written by tools/build_model_tables.py

# Hand-picked candidates where the generic rule (blocks of the module tree) is not what people score.
CANDIDATES = {
    "resnet18": ["maxpool", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0",
                 "layer4.1", "avgpool"],
}


def _rows() -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in read_table(TABLE):
        out.setdefault(row["name"], []).append(row)
    return out


def build(name: str, weights: str | None = None, seed: int = 0) -> TorchModel:
    from brainbench.extraction.torchvision_compat import import_torchvision

    from brainbench.extraction.weights import load_url_weights, resolve_weights

    tv = import_torchvision()
    enum = tv.models.get_model_weights(name)
    published = {w.name.lower(): w for w in enum}
    weights = resolve_weights(name, weights, list(dict.fromkeys([enum.DEFAULT.name.lower(), *published, "random"])))
    preprocess_from = published.get(weights, enum.DEFAULT)
    # as torchvision's own builders do: SWAG ViTs run at 384 or 518 pixels
    kwargs = {"image_size": preprocess_from.meta["min_size"][0]} if name.startswith("vit_") else {}
    with seeded(seed):
        module = tv.models.get_model(name, weights=None, **kwargs)
    if weights != "random":
        module.load_state_dict(load_url_weights(name, published[weights].url))
    rows = _rows()[name]
    prefix = int(rows[0]["prefix_tokens"]) if rows[0]["prefix_tokens"] else None
    return TorchModel(module, preprocess_from.transforms(), _card(name, rows), weights=weights,
                      default_layers=CANDIDATES.get(name), seed=seed, prefix_tokens=prefix)


def _card(name: str, rows: list[dict[str, str]]):
    default = rows[0]
    return card(default, name=name, source="torchvision", weights=[r["weights"] for r in rows] + ["random"],
                description=f"torchvision {name} ({default['family']}), ImageNet-1k classification",
                url="https://pytorch.org/vision/stable/models.html")


@hookimpl
def register_models(register):
    for name, rows in _rows().items():
        register(_card(name, rows), partial(build, name))
