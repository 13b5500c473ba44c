"""Feature visualisation by optimisation (brainbench.interpret.visualize): known answers on linear units (the
box-constrained maximiser of a linear filter is its sign pattern, which correlates with it), a simulated neuroid
recovered through a fitted encoding model, the parts against numpy/scikit-learn/torch by hand, determinism, the
model left as it was, and the bad inputs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

import brainbench
from brainbench.cli.commands import main
from brainbench.errors import ConfigError, UnknownNameError
from brainbench.interpret.visualize import (Channel, Direction, Readout, Unit, Voxel, colour_matrix, fit_readout,
                                            fit_voxel, model_input, visualize)
from brainbench.interpret.visualize.image import frequency_scale, make_image
from brainbench.interpret.visualize.transforms import jitter, pad, random_rotate
from helpers.paths import SHARED_DATA

K = 11  # filter side


def _preprocess(size):
    def preprocess(image):
        a = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32) / 255
        return torch.from_numpy((a - 0.5) / 0.25).permute(2, 0, 1)
    return preprocess


def _filter_model(pattern, size, name="filter"):
    """One convolution whose channel 0 is ``pattern`` (3, K, K) and channel 1 its negative, no bias."""
    net = nn.Sequential(nn.Conv2d(3, 2, pattern.shape[-1]))
    with torch.no_grad():
        net[0].weight[0] = torch.from_numpy(pattern)
        net[0].weight[1] = -torch.from_numpy(pattern)
        net[0].bias.zero_()
    return brainbench.wrap(net, _preprocess(size), name=name, input_size=size)


def _grating():
    yy, xx = np.mgrid[:K, :K] - K // 2
    wave = np.cos(2 * np.pi * (xx * np.cos(0.6) + yy * np.sin(0.6)) / 6)
    return (np.array([1.0, -1.0, 1.0])[:, None, None] * wave[None]).astype(np.float32)


def _footprint(result, size=K):
    y, x = result.settings["position"]
    return result.image[y:y + size, x:x + size].transpose(2, 0, 1) - 0.5


@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_a_linear_units_image_is_its_filters_pattern(param):
    # a linear unit's maximiser over images in [0, 1] is 0.5 + 0.5 sign(filter); sign(cos) correlates 0.90 with cos
    pattern = _grating()
    model = _filter_model(pattern, 32)
    result = visualize(model, Unit("0", 0), steps=128, size=32, param=param, transforms="none", device="cpu")
    patch = _footprint(result)
    assert result.settings["position"] == [11, 11]  # the centre of the 22 x 22 map; its footprint rows 11-21
    assert np.corrcoef(patch.ravel(), pattern.ravel())[0, 1] > 0.85  # measured 0.87 (fourier), 0.90 (pixel)
    assert (np.sign(patch) == np.sign(pattern)).mean() > 0.95  # measured 0.97, 1.0
    assert result.after > 100 * abs(result.before) and len(result.curve) == 128
    # channel 1 is the negative filter: its image is the negative pattern
    negative = visualize(model, Unit("0", 1), steps=128, size=32, param=param, transforms="none", device="cpu")
    assert np.corrcoef(_footprint(negative).ravel(), pattern.ravel())[0, 1] < -0.85


def test_the_full_recipe_finds_a_colour_blob():
    # lucid's transforms (pad, jitter, scale, rotate) move the footprint; a low-frequency filter survives them
    yy, xx = np.mgrid[:K, :K] - K // 2
    blob = np.exp(-(xx**2 + yy**2) / (2 * 2.5**2))
    pattern = (np.array([1.0, -1.0, 1.0])[:, None, None] * blob[None]).astype(np.float32)
    result = visualize(_filter_model(pattern, 64), Unit("0", 0), steps=96, size=64, device="cpu")
    assert np.corrcoef(_footprint(result).ravel(), pattern.ravel())[0, 1] > 0.6  # measured 0.75 at 128 steps


def _small_model(size=12):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1))
    return brainbench.wrap(net, _preprocess(size), name="small", input_size=size)


@pytest.mark.parametrize(("param", "steps", "least"), [("pixel", 64, 0.8), ("fourier", 128, 0.75)])
def test_a_voxel_recovers_a_simulated_neuroids_filter(param, steps, least):
    # the neuroid: a known linear filter of the image plus noise; the encoding model sees the image only through
    # a random convolution's 1,728 features
    size, rng = 12, np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    true = np.array([1.0, -1.0, 0.5])[:, None, None] * np.cos(2 * np.pi * (xx * 0.8 + yy * 0.6) / 6)[None]
    model = _small_model(size)
    images = rng.random((600, 3, size, size))
    responses = ((images - 0.5) * true).sum((1, 2, 3)) + rng.normal(0, 0.5, len(images))
    with torch.no_grad():
        features = model.module(model_input(model)(torch.from_numpy(images).float())).numpy()
    readout = fit_readout(features, responses)
    assert readout.loo_r > 0.95  # measured 0.98
    result = visualize(model, Voxel("0", readout), steps=steps, size=size, param=param, transforms="none",
                       device="cpu")
    image = result.image.transpose(2, 0, 1) - 0.5
    assert np.corrcoef(image.ravel(), true.ravel())[0, 1] > least  # measured 0.86 (pixel), 0.80 (fourier)
    assert result.after > result.before + 50


def test_the_readout_is_ridge_at_its_loo_alpha():
    from sklearn.linear_model import Ridge, RidgeCV

    from brainbench.encoding.regression import RIDGE_ALPHAS

    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 25))
    y = X @ rng.standard_normal(25) + rng.normal(0, 2.0, 40)
    readout = fit_readout(X, y)
    Xc = X - X.mean(0)
    alphas = np.array(RIDGE_ALPHAS) * np.trace(Xc @ Xc.T) / len(X)
    assert readout.alpha == pytest.approx(RidgeCV(alphas=alphas).fit(X, y).alpha_)
    reference = Ridge(alpha=readout.alpha).fit(X, y)
    np.testing.assert_allclose(readout.weights, reference.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(readout.predict(X), reference.predict(X), rtol=1e-8)


def test_same_seed_same_image_and_the_model_is_left_as_it_was():
    model = _filter_model(_grating(), 32)
    model.module.train()
    model.module[0].bias.requires_grad_(False)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    runs = [visualize(model, Channel("0", 0), steps=12, size=32, seed=s, device="cpu") for s in (3, 3, 4)]
    assert np.array_equal(runs[0].image, runs[1].image) and np.array_equal(runs[0].curve, runs[1].curve)
    assert not np.array_equal(runs[0].image, runs[2].image)
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.module.training  # its mode restored; it ran in eval mode
    assert model.module[0].weight.requires_grad and not model.module[0].bias.requires_grad
    assert model.module[0].weight.grad is None


def test_direction_is_a_dot_product_with_the_spatial_mean():
    model = _filter_model(_grating(), 32)
    both = visualize(model, Direction("0", np.array([1.0, 0.0])), steps=20, size=32, seed=0, transforms="none",
                     device="cpu")
    channel = visualize(model, Channel("0", 0), steps=20, size=32, seed=0, transforms="none", device="cpu")
    assert np.array_equal(both.image, channel.image) and both.after == pytest.approx(channel.after)


def test_model_input_is_efficientnets_own_preprocessing():
    model = brainbench.get_model("efficientnet_lite0")
    model_input_ = model_input(model)
    # T.Normalize([127 / 255] * 3, [128 / 255] * 3) after ToTensor: x * 255/128 - 127/128, at 224 x 224
    assert model_input_.size == (224, 224)
    np.testing.assert_allclose(model_input_.scale, [255 / 128] * 3, rtol=1e-5)
    np.testing.assert_allclose(model_input_.shift, [-127 / 128] * 3, rtol=1e-5)
    # Resize(256) then CenterCrop(224) keeps the middle 224/256 of each axis: 1/16 to 15/16
    np.testing.assert_allclose(model_input_.crop, [1 / 16, 15 / 16] * 2, atol=1.5e-3)  # measured within 6e-4
    # on a smooth image, the same input as the PIL transform (bicubic there, bilinear here): within 0.035 of a
    # range of 1.6 (measured 0.031; 0.71 with the crop left out)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:112, :112] / 112
    image = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * (xx * rng.uniform(0.5, 2) + yy * rng.uniform(0.5, 2))
                                         + rng.uniform(0, 6)) for _ in range(3)], -1)
    pixels = np.round(image * 255).astype(np.uint8)
    expected = model.preprocess(Image.fromarray(pixels)).numpy()
    ours = model_input_(torch.from_numpy(pixels / 255).permute(2, 0, 1)[None].float())[0].numpy()
    assert np.abs(ours - expected).max() < 0.035
    assert model_input(_small_model()).crop == (0.0, 1.0, 0.0, 1.0)  # a plain resize keeps everything


def test_a_preprocessing_that_mixes_channels_is_refused():
    def grey(image):
        a = np.asarray(image.convert("L").resize((16, 16)), dtype=np.float32) / 255
        return torch.from_numpy(np.repeat(a[None], 3, 0))

    model = brainbench.wrap(nn.Conv2d(3, 2, 3), grey, name="grey", input_size=16)
    with pytest.raises(ConfigError, match="not a resize plus a per-channel affine map.*preprocess="):
        visualize(model, Channel("", 0), steps=1, device="cpu")


def test_colour_matrix_is_the_square_root_of_the_rgb_covariance():
    rng = np.random.default_rng(0)
    mixing = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.3], [0.0, 0.0, 0.4]])
    images = (rng.standard_normal((4, 8, 8, 3)) @ mixing) * 0.1 + 0.5
    M = colour_matrix(images)
    cov = np.cov(images.reshape(-1, 3), rowvar=False)
    assert np.linalg.norm(M, axis=0).max() == pytest.approx(1.0)  # normalised by its largest column norm
    ratio = (M @ M.T) / cov
    np.testing.assert_allclose(ratio, ratio[0, 0])  # M M^T = cov / c for one c
    np.testing.assert_allclose(M, M.T)
    assert np.array_equal(colour_matrix(None), np.eye(3))
    with pytest.raises(ConfigError, match="no colour variance"):
        colour_matrix(np.full((2, 4, 4, 3), 0.5))


def test_fourier_image_is_the_scaled_inverse_rfft_through_the_colour_matrix():
    generator = torch.Generator().manual_seed(0)
    M = colour_matrix(np.array([[0.5, 0.2, 0.0], [0.1, 0.6, 0.0], [0.0, 0.3, 0.7]]))
    image = make_image("fourier", 16, M, generator, "cpu")
    coefficients = image.coefficients.detach().double().numpy()
    spectrum = (coefficients[..., 0] + 1j * coefficients[..., 1]) * frequency_scale(16, 16)
    channels = np.fft.irfft2(spectrum, s=(16, 16), norm="ortho") / 4
    expected = 1 / (1 + np.exp(-np.einsum("ij,jhw->ihw", M, channels)))
    np.testing.assert_allclose(image()[0].detach().numpy(), expected, atol=1e-6)
    assert frequency_scale(16, 16)[0, 0] == 16 and frequency_scale(16, 16)[0, 4] == pytest.approx(4.0)


def test_transforms_by_hand():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    padded = pad(2, 0.5)(image, generator)
    assert padded.shape[-1] == 14 and torch.all(padded[..., :2, :] == 0.5)
    assert torch.equal(padded[..., 2:12, 2:12], image)
    state = generator.get_state()
    moved = jitter(4)(image, generator)
    dy, dx = (int(v) for v in torch.randint(4, (2,), generator=torch.Generator().set_state(state)))
    assert torch.equal(moved, image[..., dy:dy + 6, dx:dx + 6])
    quarter = random_rotate([90])(image, generator)
    torch.testing.assert_close(quarter, torch.rot90(image, k=1, dims=(2, 3)), atol=1e-5, rtol=0)  # counterclockwise
    torch.testing.assert_close(random_rotate([0])(image, generator), image, atol=1e-6, rtol=0)


def test_bad_requests():
    model = _filter_model(_grating(), 32)
    with pytest.raises(ConfigError, match="unit 2 is out of range: layer '0' has 2 channels"):
        visualize(model, Unit("0", 2), steps=1, device="cpu")
    with pytest.raises(ConfigError, match="channel 5 is out of range: layer '0' has 2 channels"):
        visualize(model, Channel("0", 5), steps=1, device="cpu")
    with pytest.raises(ConfigError, match="row 22 is out of range"):
        visualize(model, Unit("0", 0, (22, 0)), steps=1, device="cpu")
    with pytest.raises(UnknownNameError, match="unknown layer of filter '00'.*Did you mean '0'"):
        visualize(model, Channel("00", 0), steps=1, device="cpu")
    with pytest.raises(ConfigError, match="steps must be a whole number >= 1; got 0"):
        visualize(model, Channel("0", 0), steps=0, device="cpu")
    with pytest.raises(ConfigError, match="learning rate"):
        visualize(model, Channel("0", 0), lr=-1.0, device="cpu")
    with pytest.raises(ConfigError, match="direction has shape \\(3,\\), but layer '0' has 2 channels"):
        visualize(model, Direction("0", np.ones(3)), steps=1, device="cpu")
    with pytest.raises(ConfigError, match="image parameterisation 'fft'"):
        visualize(model, Channel("0", 0), param="fft", device="cpu")
    with pytest.raises(ConfigError, match="readout has 3 weights, but layer '0' has 968 units"):
        visualize(model, Voxel("0", fit_readout(np.random.default_rng(0).random((5, 3)), np.arange(5.0))),
                  steps=1, device="cpu")


COWLEY = SHARED_DATA / "cowley2023_v4"
needs_cowley = pytest.mark.skipif(not COWLEY.exists(), reason="../shared/data is not beside this checkout")


@needs_cowley
def test_an_unknown_neuroid_names_close_matches():
    with pytest.raises(UnknownNameError, match="unknown neuroid of cowley2023.V4 '210325.7'.*'210325.07'"):
        fit_voxel(brainbench.get_model("efficientnet_lite0"), "cowley2023.V4", "210325.7", "_blocks.3")


@needs_cowley
def test_cli_visualizes_a_cowley_v4_neuroids_encoding_model(tmp_path):
    # the real benchmark and the real offline weights: ridge on _blocks.3 for neuroid '210325.07' (id kept as
    # written), a few Adam steps on a small image raise the encoding model's prediction
    out = tmp_path / "v4.png"
    probe = tmp_path / "probe"
    probe.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(probe / f"p{i}.png")
    result = CliRunner().invoke(main, ["visualize", "-m", "efficientnet_lite0", "--layer", "_blocks.3", "--voxel",
                                       "cowley2023.V4:210325.07", "--n-stimuli", "40", "--steps", "4", "--size",
                                       "48", "--device", "cpu", "-o", str(out), "--json", "--grid",
                                       str(tmp_path / "mei.png"), "--probe", str(probe), "-k", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["top_images"]) == 3 and set(data["top_images"]) <= {f"p{i}" for i in range(6)}
    from brainbench.interpret.grid import CAPTION, GAP

    label = 8 + 6 * len("voxel cowley2023.V4:210325.07")  # the row is labelled with the voxel it shows
    assert Image.open(tmp_path / "mei.png").size == (label + 3 * (96 + GAP), 96 + CAPTION + GAP)
    settings = data["settings"]
    assert settings["neuroid"] == "210325.07" and settings["benchmark"] == "cowley2023.V4"
    assert settings["objective"] == "voxel" and settings["stimuli"] == 40 and settings["steps"] == 4
    assert data["after"] > data["before"] and len(data["curve"]) == 4
    png = Image.open(out)
    assert png.size == (48, 48) and json.loads(png.info["brainbench"]) == settings


def test_cli_unit_writes_the_png_and_prints_the_objective(tmp_path):
    out = tmp_path / "unit.png"
    args = ["visualize", "-m", "efficientnet_lite0", "--layer", "_blocks.5", "--unit", "3", "--steps", "2", "--size",
            "32", "--param", "pixel", "--device", "cpu", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "efficientnet_lite0 _blocks.5, unit 3 at [7, 7]: objective" in result.output
    assert f"wrote {out}" in result.output and Image.open(out).size == (32, 32)
    again = CliRunner().invoke(main, [*args[:-2], "-o", str(tmp_path / "again.png"), "--json"])
    data = json.loads(again.output)  # the same seed: the same image and numbers
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tmp_path / "again.png")))
    assert f"{data['after']:.4g}" in result.output and data["after"] > data["before"]


def test_objective_top_images_are_the_stimuli_the_objective_ranks_highest():
    """Unit, channel and voxel objectives over a probe set through the extraction engine: the top-k equal a full
    sort of the objective computed by hand on the layer's features."""
    from brainbench.interpret.visualize import objective_top_images

    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(30)]
    stimuli = brainbench.StimulusSet.from_arrays(arrays, [f"s{i:02d}" for i in range(30)])
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    model = brainbench.wrap(net, _preprocess(16), name="probe-net")
    x = torch.stack([_preprocess(16)(stimuli.image(s)) for s in stimuli.ids])
    with torch.no_grad():
        act = net(x).double()
    weights = rng.normal(size=4 * 16 * 16)
    readout = Readout(weights=weights, mean=np.zeros_like(weights), intercept=0.5, alpha=1.0, loo_r=0.0, n=30,
                      layer="1", benchmark="sim.V4", neuroid="n7")
    cases = [(Unit("1", 2), act[:, 2, 8, 8]), (Channel("1", 1), act[:, 1].mean((1, 2))),
             (Voxel("1", readout), 0.5 + act.reshape(30, -1) @ torch.from_numpy(weights))]
    for objective, values in cases:
        top = objective_top_images(model, objective, stimuli, 5, cache=False, batch_size=7)
        want = np.argsort(-values.numpy(), kind="stable")[:5]
        assert top.indices[0].tolist() == want.tolist(), objective
        np.testing.assert_allclose(top.values[0], values.numpy()[want], rtol=1e-5)
        assert top.stimulus_ids[0] == [f"s{i:02d}" for i in want]
    assert top.readout == "voxel sim.V4:n7"
    with pytest.raises(ConfigError, match="fewer than k = 31"):
        objective_top_images(model, Channel("1", 1), stimuli, 31, cache=False)


def test_cli_grid_needs_a_probe_set_for_a_unit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["visualize", "-m", "efficientnet_lite0", "--layer", "_blocks.5", "--unit", "1",
                                       "-o", "out.png", "--grid", "mei.png"])
    assert result.exit_code == 2 and "--grid needs --probe" in result.output and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("extra", "message"), [
    ([], "give exactly one objective"),
    (["--unit", "1", "--channel", "2"], "give exactly one objective: .* \\(got --unit, --channel\\)"),
    (["--unit", "1", "-o", "x.jpg"], "--output x.jpg: .jpg is not a format it can write"),
    (["--unit", "1", "--steps", "0"], "steps must be a whole number >= 1"),
    (["--voxel", "nosuch.V4:1", "--lr", "0"], "learning rate \\(lr\\) must be a positive number"),  # before the fit
    (["--voxel", "cowley2023.V4"], "write BENCHMARK:NEUROID_ID"),
    (["--unit", "999"], "unit 999 is out of range: layer '_blocks.5' has 80 channels"),
])
def test_cli_refuses_bad_requests_before_writing(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    args = ["visualize", "-m", "efficientnet_lite0", "--layer", "_blocks.5", "--device", "cpu"]
    output = [] if "-o" in extra else ["-o", "out.png"]
    result = CliRunner().invoke(main, [*args, *extra, *output])
    assert result.exit_code == 2, result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert not list(tmp_path.iterdir())
