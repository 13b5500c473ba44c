"""The model zoo: torchvision, timm and open_clip listed from metadata tables without importing them,
built (with random weights here: none can be downloaded) with their own preprocessing, and clear
errors when weights are not cached."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import brainbench
from brainbench.errors import UnknownNameError, WeightsNotFoundError
from brainbench.extraction.model_tables import read_table as read_path
from brainbench.registry.entries import refresh
from brainbench.data.stimuli import StimulusSet
from brainbench.testing import tiny_stimulus_set
from brainbench.extraction.torchvision_compat import import_torchvision
from helpers.paths import REPO

TABLES = REPO / "plugins" / "models" / "tables"


def read_table(source):
    """The built-in model plugins' table of ``source`` (plugins/models/tables/<source>.csv)."""
    return read_path(TABLES / f"{source}.csv")


def test_listing_thousands_of_models_imports_no_model_library():
    code = (
        "import sys, json, brainbench\n"
        "names = {s: len(brainbench.list_models(where={'source': s})) for s in ('torchvision', 'timm', 'open_clip', 'huggingface')}\n"
        "heavy = [m for m in ('torch', 'torchvision', 'timm', 'open_clip', 'transformers') if m in sys.modules]\n"
        "print(json.dumps([names, heavy]))\n"
    )
    counts, heavy = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert heavy == []
    assert counts["torchvision"] == len({r["name"] for r in read_table("torchvision")}) >= 80
    assert counts["timm"] == len(read_table("timm")) >= 1000
    assert counts["open_clip"] == len(read_table("open_clip")) >= 100
    assert counts["huggingface"] == len(read_table("huggingface")) >= 6


def _installed(source):
    import_torchvision()
    import open_clip
    import timm

    tv = import_torchvision()
    return {
        "torchvision": (tv.__version__.split("+")[0], lambda: set(tv.models.list_models(module=tv.models)),
                        lambda rows: {r["name"] for r in rows}),
        "timm": (timm.__version__, lambda: set(timm.list_models(pretrained=True)),
                 lambda rows: {f"{r['name']}.{r['weights']}" for r in rows}),
        "open_clip": (open_clip.__version__, lambda: {(a, t.lower()) for a, t in open_clip.list_pretrained()},
                      lambda rows: {(r["name"], r["weights"]) for r in rows if not r["name"].startswith("text-")}),
    }[source]


@pytest.mark.parametrize("source", ["torchvision", "timm", "open_clip"])
def test_tables_match_the_installed_libraries(source):
    version, installed, listed = _installed(source)
    rows = read_table(source)
    if rows[0]["version"] != version:
        pytest.skip(f"{source} {version} is installed, the table is for {rows[0]['version']}: "
                    "run tools/build_model_tables.py")
    assert listed(rows) == installed()


def test_metadata_table_filters_for_controlled_comparisons():
    frame = brainbench.list_models(where={"source": "timm", "task": "classification", "training_data": "in21k+in1k"},
                                   as_frame=True)
    assert len(frame) > 50 and set(frame["source"]) == {"timm"} and set(frame["training_data"]) == {"in21k+in1k"}
    assert {"architecture", "input_size", "parameters", "offline_weights", "weights"} <= set(frame.columns)
    vit = frame.loc["timm-vit_base_patch16_224.augreg2_in21k_ft_in1k"]
    assert vit["architecture"] == "vision_transformer" and vit["input_size"] == 224 and vit["parameters"] == 86_567_656
    tv = brainbench.list_models(where={"source": "torchvision"}, as_frame=True)
    assert tv.loc["resnet50", "weights"] == ["imagenet1k_v2", "imagenet1k_v1", "random"]  # default first
    assert tv.loc["resnet18", "parameters"] == 11_689_512 and not tv["offline_weights"].any()
    assert brainbench.list_models(where={"source": "efficientnet-lite-pytorch"}, as_frame=True)["offline_weights"].all()


def test_one_training_data_filter_finds_a_dataset_across_sources():
    frame = brainbench.list_models(where={"training_data": "in1k", "task": "classification"}, as_frame=True)
    assert {"torchvision", "timm", "efficientnet-lite-pytorch"} <= set(frame["source"])
    assert frame.loc["resnet18", "training_data"] == "in1k"
    swag = brainbench.list_models(where={"source": "torchvision", "training_data": "ig3.6b+in1k"})
    assert swag == ["regnet_y_128gf", "vit_h_14"]  # the SWAG weights, pretrained on Instagram then ImageNet-1k
    open_clip = brainbench.list_models("openclip-*", as_frame=True)["training_data"]
    assert open_clip["openclip-coca_ViT-B-32.mscoco_finetuned_laion2b_s13b_b90k"] == "laion2b+mscoco"
    assert open_clip["openclip-xlm-roberta-large-ViT-H-14.frozen_laion5b_s13b_b90k"] == "laion5b"
    assert open_clip["openclip-nllb-clip-base.v1"] == "laion_coco_nllb"


def test_a_filter_on_a_field_no_card_has_is_an_error_not_an_empty_list():
    with pytest.raises(UnknownNameError, match="'sorce'. Did you mean 'source'"):
        brainbench.list_models(where={"sorce": "timm"})
    cli = [sys.executable, "-m", "brainbench", "list", "models"]
    typo = subprocess.run([*cli, "--where", "sorce=timm"], capture_output=True, text=True)
    assert typo.returncode == 2 and "Did you mean 'source'" in typo.stderr
    nothing = subprocess.run([*cli, "--where", "source=tim,task=classification"], capture_output=True, text=True)
    assert nothing.returncode == 2 and nothing.stdout == ""  # a filter that matches nothing is a wrong request
    assert "no model has source=tim; its values: brainbench, efficientnet-lite-pytorch, huggingface" in nothing.stderr
    assert "task=" not in nothing.stderr  # classification is a value some model has


def test_cached_weights_show_as_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    (tmp_path / "models--timm--resnet18.a1_in1k" / "snapshots").mkdir(parents=True)
    refresh()
    try:
        frame = brainbench.list_models("timm-resnet18.*", as_frame=True)
        assert frame.loc["timm-resnet18.a1_in1k", "offline_weights"]
        assert not frame.drop("timm-resnet18.a1_in1k")["offline_weights"].any()
    finally:
        monkeypatch.undo()
        refresh()


def test_torchvision_model_builds_with_its_weights_transforms():
    model = brainbench.get_model("mobilenet_v3_small", weights="random", seed=3)
    assert sum(p.numel() for p in model.module.parameters()) == model.card.parameters
    assert model.preprocess.crop_size == [224] and model.preprocess.resize_size == [256]
    features = model.extract(tiny_stimulus_set(n=3), ["classifier.3"], progress=False, cache=False)
    assert features["classifier.3"].sizes == {"presentation": 3, "neuroid": 1000}


def test_torchvision_vit_gets_its_cls_token():
    model = brainbench.get_model("vit_b_32", weights="random")
    assert model.prefix_tokens == 1
    layer = "encoder.layers.encoder_layer_0"
    info = {i.name: i for i in model.layer_table()}[layer]
    assert info.tokens and info.shape == (50, 768)
    assert "encoder.layers.encoder_layer_11" in model.default_layers


def test_timm_vit_builds_with_timm_preprocessing_and_token_modes():
    model = brainbench.get_model("timm-vit_tiny_patch16_224", weights="random")  # timm's default tag
    assert model.name == "timm-vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    assert sum(p.numel() for p in model.module.parameters()) == model.card.parameters
    assert model.prefix_tokens == 1 and model.default_layers == [f"blocks.{i}" for i in range(12)] + ["head"]
    stimuli = tiny_stimulus_set(n=3)
    x = torch.stack([model.preprocess(stimuli.image(s)) for s in stimuli.ids])
    assert x.shape == (3, 3, 224, 224)
    np.testing.assert_allclose(x.min().item(), -1, atol=0.01)  # augreg: mean 0.5, std 0.5
    features = model.extract(stimuli, ["blocks.2"], tokens="cls", progress=False, cache=False)
    net = model.module
    with torch.inference_mode():
        t = net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(x))))
        expected = net.blocks[:3](t)[:, 0]
    np.testing.assert_allclose(features["blocks.2"].values, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_open_clip_image_and_text_towers():
    image = brainbench.get_model("openclip-ViT-B-32.laion2b_s34b_b79k", weights="random")
    assert image.prefix_tokens == 1 and image.card.parameters == sum(p.numel() for p in image.module.parameters())
    stimuli = tiny_stimulus_set(n=2)
    features = image.extract(stimuli, ["embedding", "visual.transformer.resblocks.0"], tokens="mean",
                             progress=False, cache=False)
    x = torch.stack([image.preprocess(stimuli.image(s)) for s in stimuli.ids])
    with torch.inference_mode():
        embedded = image.module.visual(x)
    np.testing.assert_allclose(features["embedding"].values, embedded.numpy(), rtol=1e-4, atol=1e-5)
    assert features["visual.transformer.resblocks.0"].sizes["neuroid"] == 768

    text = brainbench.get_model("openclip-text-ViT-B-32.laion2b_s34b_b79k", weights="random")
    captions = StimulusSet.from_texts(["a cat on a mat", "two dogs in the snow", "a red bus"])
    out = text.extract(captions, ["embedding"], progress=False, cache=False)["embedding"]
    import open_clip

    with torch.inference_mode():
        reference = text.module.clip.encode_text(open_clip.get_tokenizer("ViT-B-32")(list(captions.table["caption"])))
    np.testing.assert_allclose(out.values, reference.numpy(), rtol=1e-4, atol=1e-5)
    assert out.sizes == {"presentation": 3, "neuroid": 512}

    # the token mean runs from start to end of text: padding left out
    layer = "clip.transformer.resblocks.0"
    shouted = StimulusSet.from_texts(["a cat !", "two dogs in the snow"])
    mean = text.extract(shouted, [layer], tokens="mean", progress=False, cache=False)[layer].values
    ids = open_clip.get_tokenizer("ViT-B-32")(["a cat !", "two dogs in the snow"])
    clip = text.module.clip
    with torch.inference_mode():
        tokens = clip.transformer.resblocks[0](clip.token_embedding(ids) + clip.positional_embedding,
                                               attn_mask=clip.attn_mask)
    assert ids[0, 4] == 49407 and ids[1, 6] == 49407  # end of text
    np.testing.assert_allclose(mean[0], tokens[0, :5].mean(0).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean[1], tokens[1, :7].mean(0).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "folder"), [
    ("timm-resnet18.a1_in1k", "models--timm--resnet18.a1_in1k"),
    ("openclip-ViT-B-32.laion2b_s34b_b79k", "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"),
    ("hf-bert-base-uncased", "models--google-bert--bert-base-uncased"),
])
def test_uncached_hub_weights_offline_say_where_to_put_them(name, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as info:
        brainbench.get_model(name)
    message = str(info.value)
    assert repr(name) in message and str(tmp_path / folder) in message
    assert "BRAINBENCH_OFFLINE forbids downloading" in message and "--weights random" in message
