"""Every timm model with pretrained weights, one entry per pretrained tag: ``timm-<arch>.<tag>``.

``timm-vit_base_patch16_224.augreg2_in21k_ft_in1k`` builds that tag, ``timm-vit_base_patch16_224`` timm's
default tag, ``--weights random`` a seeded random initialisation. Preprocessing is timm's data config
for the tag (size, crop, interpolation, normalisation). Weights come from the Hugging Face hub cache.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from brainbench import hookimpl
from brainbench.device import seeded
from brainbench.extraction.model_tables import card, read_table
from brainbench.extraction.torch_model import TorchModel
from brainbench.extraction.weights import hf_hub_root

TABLE = Path(__file__).parent / "tables" / "timm.csv"  # package data, written by tools/build_model_tables.py

PREFIX = "timm-"


def build(arch: str, tag: str, weights: str | None = None, seed: int = 0) -> TorchModel:
    from brainbench.extraction.torchvision_compat import import_torchvision

    from brainbench.extraction.weights import hub_weights, resolve_weights

    import_torchvision()
    import timm

    weights = resolve_weights(f"{PREFIX}{arch}.{tag}", weights, [tag, "random"])
    full = f"{arch}.{tag}"
    cfg = timm.models.get_pretrained_cfg(full)
    if weights == "random":
        with seeded(seed):
            module = timm.create_model(arch, pretrained=False, num_classes=cfg.num_classes or 0)
    else:
        module = hub_weights(f"{PREFIX}{full}", cfg.hf_hub_id or cfg.url,
                             lambda: timm.create_model(full, pretrained=True, cache_dir=hf_hub_root()))
    config = timm.data.resolve_data_config({}, model=module)
    preprocess = timm.data.create_transform(**config)
    row = _row(arch, tag)
    prefix = int(row["prefix_tokens"]) if row["prefix_tokens"] else None
    return TorchModel(module, preprocess, _card(row), weights=weights, default_layers=candidates(module, cfg),
                      seed=seed, prefix_tokens=prefix)


def candidates(module, cfg) -> list[str] | None:
    """timm's own feature stages (``feature_info``), then the classifier."""
    stages = [info["module"] for info in getattr(module, "feature_info", []) or [] if info.get("module")]
    if not stages:
        return None
    head = [cfg.classifier] if cfg.num_classes and isinstance(cfg.classifier, str) else []
    return list(dict.fromkeys(stages + head))


def _row(arch: str, tag: str) -> dict[str, str]:
    return next(r for r in read_table(TABLE) if r["name"] == arch and r["weights"] == tag)


def _card(row: dict[str, str]):
    name = f"{PREFIX}{row['name']}.{row['weights']}"
    return card(row, name=name, source="timm", weights=[row["weights"], "random"],
                description=f"timm {row['name']} ({row['family']}), weights {row['weights']}",
                url=f"https://huggingface.co/{row['hub']}" if row["hub"] and not row["hub"].startswith("http") else row["hub"])


@hookimpl
def register_models(register):
    for row in read_table(TABLE):
        register(_card(row), partial(build, row["name"], row["weights"]))
