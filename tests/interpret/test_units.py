"""Each unit's top probe images through the extraction engine: channels of a net with known filters pick the
images their filter prefers, every readout equals its hand computation on the layer's own output, and bad requests
are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import brainbench
from brainbench.errors import ConfigError, UnknownNameError
from brainbench.interpret.units import unit_top_images


def _model():
    """Channel 0 reads the red plane, channel 1 the green one (1x1 convolution), channel 2 their difference."""
    conv = torch.nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0
        conv.weight[1, 1] = 1.0
        conv.weight[2, 0], conv.weight[2, 1] = 1.0, -1.0
    net = torch.nn.Sequential(conv, torch.nn.Flatten(), torch.nn.Identity())

    def preprocess(image):
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    return brainbench.wrap(net, preprocess, name="colours"), net, preprocess


def _stimuli(n=20, size=6):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(n)]
    ids = [f"img{i:03d}" for i in range(n)]  # zero-padded ids stay strings
    return brainbench.StimulusSet.from_arrays(arrays, ids), arrays, ids


def test_channels_pick_the_images_their_filter_prefers_with_every_readout():
    model, net, preprocess = _model()
    stimuli, arrays, ids = _stimuli()
    x = torch.stack([preprocess(Image.fromarray(a)) for a in arrays])
    with torch.no_grad():
        maps = net[0](x).numpy().astype(np.float64)  # (n, 3, 6, 6)
    for readout, values in (("mean", maps.mean(axis=(2, 3))), ("centre", maps[:, :, 3, 3])):
        top = unit_top_images(model, stimuli, "0", 4, readout=readout, batch_size=7, cache=False)
        want = np.argsort(-values, axis=0, kind="stable")[:4].T
        np.testing.assert_array_equal(top.indices, want)
        np.testing.assert_allclose(top.values, np.take_along_axis(values.T, want, axis=1), rtol=1e-6)
        assert top.stimulus_ids[0] == [ids[i] for i in want[0]] and top.readout == readout
    red = np.array([a[..., 0].mean() for a in arrays])
    assert set(unit_top_images(model, stimuli, "0", 3, cache=False).indices[0]) == set(np.argsort(-red)[:3])
    every = unit_top_images(model, stimuli, "0", 2, readout="all", units=[0, 40, 107], cache=False)
    flat = maps.reshape(len(arrays), -1)
    np.testing.assert_array_equal(every.indices, np.argsort(-flat[:, [0, 40, 107]], axis=0, kind="stable")[:2].T)
    sample = unit_top_images(model, stimuli, "0", 2, readout="all", n_units=5, seed=3, cache=False)
    np.testing.assert_array_equal(sample.units, np.sort(np.random.default_rng(3).choice(108, 5, replace=False)))


def test_bad_requests_are_clear_errors():
    model, _, _ = _model()
    stimuli, _, _ = _stimuli(5)
    with pytest.raises(ConfigError, match="unit index 3 is out of range: layer '0' has 3 channels"):
        unit_top_images(model, stimuli, "0", 2, units=[0, 3], cache=False)
    with pytest.raises(ConfigError, match="the probe set has 5 stimuli, fewer than k = 6"):
        unit_top_images(model, stimuli, "0", 6, cache=False)
    with pytest.raises(ConfigError, match="readout 'max' is not one of mean, centre, all"):
        unit_top_images(model, stimuli, "0", 2, readout="max", cache=False)
    with pytest.raises(ConfigError, match="need the layer's own units"):
        unit_top_images(model, stimuli, "0", 2, reduce="srp:4", cache=False)
    with pytest.raises(ConfigError, match="not both"):
        unit_top_images(model, stimuli, "0", 2, units=[0], n_units=1, cache=False)
    with pytest.raises(UnknownNameError):
        unit_top_images(model, stimuli, "nope", 2, cache=False)
