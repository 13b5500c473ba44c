"""II end to end on a layer whose channels prefer known image families: the red and green channels' II are far
above the random-set baseline, and the result equals its parts computed directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainbench
from brainbench.errors import ConfigError, UnknownNameError
from brainbench.interpret.index import interpretability_index, random_set_baseline
from brainbench.interpret.measure import measure_interpretability, probe_images
from brainbench.interpret.units import unit_top_images


def _families(n=90, size=8, seed=0):
    """Thirds of the probe set: reddish images, greenish images, grey noise."""
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        base = rng.integers(0, 60, size=(size, size, 3))
        if i % 3 == 0:
            base[..., 0] += 180
        elif i % 3 == 1:
            base[..., 1] += 180
        else:
            base += rng.integers(0, 120, size=(size, size, 1))
        arrays.append(base.clip(0, 255).astype(np.uint8))
    return brainbench.StimulusSet.from_arrays(arrays, [f"p{i:03d}" for i in range(n)])


def _model():
    conv = torch.nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0  # red
        conv.weight[1, 1] = 1.0  # green
        conv.weight[2] = torch.randn(3, 1, 1, generator=torch.Generator().manual_seed(7)) * 0.01  # almost nothing
    net = torch.nn.Sequential(conv, torch.nn.Flatten())

    def preprocess(image):
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    return brainbench.wrap(net, preprocess, name="families")


def pixel_distance(images):
    flat = images.reshape(len(images), -1).double().numpy()

    def distance(a, b):
        return np.sqrt(((flat[a] - flat[b]) ** 2).mean(axis=1))

    distance.name = "pixel RMS distance"
    return distance


def test_colour_channels_are_interpretable_and_their_ii_equals_its_parts():
    stimuli, model = _families(), _model()
    images = probe_images(stimuli, 8)
    distance = pixel_distance(images)
    result = measure_interpretability(model, stimuli, "0", k=6, distance=distance, image_size=8, baseline_sets=60,
                                      cache=False)
    top = unit_top_images(model, stimuli, "0", 6, cache=False)
    ii, _ = interpretability_index(top.indices, distance)
    baseline = random_set_baseline(90, 6, distance, n_sets=60, seed=0)
    np.testing.assert_allclose(result.ii, ii)
    np.testing.assert_allclose(result.baseline.values, baseline.values)
    np.testing.assert_allclose(result.normalised, (ii - baseline.values.mean()) / baseline.values.std(ddof=1))
    assert result.normalised[0] > 3 and result.normalised[1] > 3  # the red and green channels
    assert all(int(s[1:]) % 3 == 0 for s in result.top.stimulus_ids[0])  # red channel: red images
    assert "pixel RMS distance" in result.summary() and "k = 6" in result.summary()


def test_measure_refuses_k_below_two_and_unknown_distances():
    stimuli, model = _families(12), _model()
    with pytest.raises(ConfigError, match="II compares pairs"):
        measure_interpretability(model, stimuli, "0", k=1, distance="lpips", cache=False)
    with pytest.raises(UnknownNameError, match="unknown image distance 'l2'. Known: 'efficientnet_lite0-perceptual', 'lpips'"):
        measure_interpretability(model, stimuli, "0", k=3, distance="l2", cache=False)


class PixelDistance(brainbench.ImageDistance):
    """A registered image distance (a third party's plugin): RMS over pixels."""

    def __init__(self, images, device=None):
        self.flat = images.reshape(len(images), -1).double().numpy()
        self.name = "pixel RMS distance"

    def __call__(self, a, b):
        return np.sqrt(((self.flat[a] - self.flat[b]) ** 2).mean(axis=1))


class PixelPlugin:
    @brainbench.hookimpl
    def register_image_distances(self, register):
        register(brainbench.ImageDistanceCard(name="pixel-rms", version="7", offline_weights=True,
                                              reference="the test"), PixelDistance)


@pytest.fixture
def pixel_plugin():
    brainbench.register_plugin(PixelPlugin(), "pixel-rms-plugin")
    yield
    brainbench.unregister_plugin("pixel-rms-plugin")


def test_a_plugin_distance_is_used_by_name_and_the_ii_metric_and_the_store_keep_what_it_measured(pixel_plugin,
                                                                                                 store_url):
    stimuli, model = _families(), _model()
    assert "pixel-rms" in brainbench.list_image_distances()
    by_name = measure_interpretability(model, stimuli, "0", k=6, distance="pixel-rms", image_size=8,
                                       baseline_sets=60, cache=False)
    by_hand = measure_interpretability(model, stimuli, "0", k=6, distance=pixel_distance(probe_images(stimuli, 8)),
                                       image_size=8, baseline_sets=60, cache=False)
    np.testing.assert_allclose(by_name.ii, by_hand.ii)
    np.testing.assert_allclose(by_name.baseline.values, by_hand.baseline.values)
    p = by_name.provenance
    assert (p.distance, p.distance_name, p.distance_version, p.k, p.readout) == ("pixel-rms", "pixel RMS distance",
                                                                                 "7", 6, "mean")
    assert p.weights_hash == model.weights_hash() and p.probe_hash == stimuli.content_hash() and p.n_probe == 90

    metric = brainbench.get_metric("ii", distance="pixel-rms", k=6, image_size=8, baseline_sets=60)
    assert metric.card.kind == "model_only"
    assert metric(model, stimuli, ["0"]) == {"0": pytest.approx(by_hand.mean)}

    store = brainbench.ResultsStore(store_url)  # SQLite and PostgreSQL
    row = store.add_interpretability(by_name.record())
    back = store.get_interpretability(row)
    assert back == by_name.record()
    np.testing.assert_allclose(back.ii, by_hand.ii)
    assert back.top_images == by_name.top.stimulus_ids and back.ii_mean == pytest.approx(by_hand.mean)
    assert back.baseline_sd == pytest.approx(by_hand.baseline.sd)
    summary = store.interpretability_rows("families")
    assert [(r["id"], r["layer"], r["distance"], r["k"], r["n_units"]) for r in summary] == [(row, "0", "pixel-rms", 6, 3)]
    assert summary[0]["normalised_mean"] == pytest.approx(by_hand.normalised.mean())
    assert store.interpretability_rows("other*") == []


def test_a_result_built_by_hand_or_half_filled_is_never_stored(store_url):
    from brainbench.errors import ResultsStoreError
    from brainbench.interpret.measure import InterpretabilityResult

    stimuli, model = _families(), _model()
    result = measure_interpretability(model, stimuli, "0", k=6, distance=pixel_distance(probe_images(stimuli, 8)),
                                      image_size=8, baseline_sets=20, cache=False)
    store = brainbench.ResultsStore(store_url)  # SQLite and PostgreSQL
    bare = InterpretabilityResult(**{**result.__dict__, "provenance": None})
    with pytest.raises(ConfigError, match="no provenance"):
        bare.record()
    record = result.record()
    with pytest.raises(ValueError, match="one entry per unit"):  # pydantic: a unit's values missing
        type(record).model_validate({**record.model_dump(), "ii": record.ii[:-1]})
    assert store.interpretability_rows() == []
    with pytest.raises(ResultsStoreError, match="no interpretability result with id 1"):
        store.get_interpretability(1)


class FamilyUnits(torch.nn.Module):
    """A constructed layer of three units over RGB images in [0, 1]: unit 0 fires for red (mean of R - (G + B) / 2),
    unit 1 for horizontal stripes (energy of a vertical-derivative filter), unit 2 at random (a sine of the pixel
    sum at a high frequency: deterministic per image, unrelated to what it shows)."""

    def __init__(self):
        super().__init__()
        self.stripes = torch.nn.Conv2d(1, 1, (3, 1), bias=False)
        with torch.no_grad():
            self.stripes.weight.copy_(torch.tensor([-1.0, 2.0, -1.0]).reshape(1, 1, 3, 1))
        self.units = torch.nn.Identity()

    def forward(self, x):
        red = (x[:, 0] - (x[:, 1] + x[:, 2]) / 2).mean(dim=(1, 2))
        stripes = (self.stripes(x.mean(1, keepdim=True)) ** 2).mean(dim=(1, 2, 3))
        random = torch.sin(x.sum(dim=(1, 2, 3)) * 997.0)
        return self.units(torch.stack([red, stripes, random], dim=1))


def test_on_real_images_a_colour_and_a_texture_unit_beat_the_baseline_and_a_random_unit_sits_on_it():
    """Real images of three families (red patches, grey horizontal stripes, coloured noise), the constructed layer
    above, and a real perceptual distance (efficientnet_lite0's offline ImageNet features)."""
    rng = np.random.default_rng(1)
    size, arrays = 32, []
    rows = np.arange(size)[:, None, None]
    for i in range(60):
        if i % 3 == 0:  # red, in varied shades and a little noise
            image = np.array([rng.uniform(150, 230), rng.uniform(0, 40), rng.uniform(0, 40)]) + rng.normal(0, 8, (size, size, 3))
        elif i % 3 == 1:  # horizontal stripes of period 4 to 6 pixels, random phase, grey
            period, phase = rng.uniform(4, 6), rng.uniform(0, 2 * np.pi)
            image = 128 + 90 * np.sin(2 * np.pi * rows / period + phase) + rng.normal(0, 8, (size, size, 3))
        else:  # coloured smooth noise
            image = np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((4, 4, 1)))
        arrays.append(np.clip(image, 0, 255).astype(np.uint8))
    stimuli = brainbench.StimulusSet.from_arrays(arrays, [f"f{i % 3}-{i:02d}" for i in range(60)])

    def preprocess(image):
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    model = brainbench.wrap(FamilyUnits(), preprocess, name="family-units")
    try:
        result = measure_interpretability(model, stimuli, "units", k=6, distance="efficientnet_lite0-perceptual",
                                          image_size=size, baseline_sets=200, cache=False)
    except brainbench.WeightsNotFoundError:
        pytest.skip("efficientnet_lite0's offline weights are not installed")
    families = [{s[:2] for s in ids} for ids in result.top.stimulus_ids]
    assert families[0] == {"f0"} and families[1] == {"f1"}  # the red unit's MEIs are red, the stripe unit's stripes
    z = result.normalised
    assert z[0] > 3 and z[1] > 3 and abs(z[2]) < 2.5, z
    assert result.ii[0] > result.ii[2] and result.ii[1] > result.ii[2]
