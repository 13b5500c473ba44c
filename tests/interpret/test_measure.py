"""II end to end on a layer whose channels prefer known image families: the red and green channels' II are far
above the random-set baseline, and the result equals its parts computed directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainbench
from brainbench.errors import ConfigError
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
    with pytest.raises(ConfigError, match="distance 'l2' is not one of lpips, efficientnet_lite0"):
        measure_interpretability(model, stimuli, "0", k=3, distance="l2", cache=False)
