"""Image distances for II: LPIPS pairs equal the lpips package's own forward (random AlexNet trunk offline), the
uncalibrated LPIPS recipe equals lpips' ``lpips=False`` baseline on the same trunk's features, images out of range
are refused, and the real trunk's absence offline is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.errors import ConfigError, WeightsNotFoundError
from brainbench.extraction.torchvision_compat import import_torchvision
from brainbench.interpret.index import interpretability_index
from brainbench.interpret.perceptual import LPIPSDistance, ModelFeatureDistance, check_image_range, feature_distance

import_torchvision()
lpips = pytest.importorskip("lpips")
USER_HUB = torch.hub.get_dir()  # read at collection, before the session's own TORCH_HOME (tests/conftest.py)


def _images(n=6, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_lpips_pairs_equal_the_packages_forward_pair_by_pair():
    images = _images()
    ours = LPIPSDistance(images, random_trunk=True, seed=3, batch_size=4)
    a, b = np.array([0, 1, 2, 3, 4, 0, 5]), np.array([1, 2, 3, 4, 5, 5, 2])
    got = ours(a, b)
    torch.manual_seed(3)
    reference = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        want = [float(reference(images[i:i + 1], images[j:j + 1], normalize=True)) for i, j in zip(a, b)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    ii, mean_distance = interpretability_index(np.array([[0, 1, 2]]), ours)
    assert mean_distance[0] == pytest.approx(np.mean([want[0], want[1], ours(np.array([0]), np.array([2]))[0]]))


def test_the_lpips_recipe_equals_lpips_without_its_calibration():
    images = _images(4)
    torch.manual_seed(0)
    baseline = lpips.LPIPS(net="alex", version="0.1", lpips=False, pnet_rand=True, verbose=False).eval()
    x0, x1 = images[:2] * 2 - 1, images[2:] * 2 - 1
    with torch.no_grad():
        want = baseline(x0, x1).reshape(-1)
        f0 = baseline.net.forward(baseline.scaling_layer(x0))
        f1 = baseline.net.forward(baseline.scaling_layer(x1))
        got = feature_distance(list(f0), list(f1))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_images_outside_lpips_range_are_refused():
    with pytest.raises(ConfigError, match=r"must lie in \[0, 1\].*span \[0, 255\]"):
        check_image_range(np.linspace(0, 255, 48).reshape(1, 3, 4, 4), normalize=True)
    with pytest.raises(ConfigError, match=r"must lie in \[-1, 1\]"):
        check_image_range(torch.full((1, 3, 4, 4), 1.5), normalize=False)
    with pytest.raises(ConfigError, match=r"\(n, 3, height, width\)"):
        check_image_range(np.zeros((3, 4, 4)), normalize=True)
    assert check_image_range(torch.full((1, 3, 2, 2), -1.0), normalize=False).min() == -1


def test_a_missing_alexnet_trunk_offline_names_the_file_and_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("BRAINBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match=r"alexnet-owt-7be5be79\.pth.*" + str(tmp_path)):
        LPIPSDistance(_images(2))


def test_lpips_with_the_real_alexnet_trunk_equals_the_packages_pretrained_lpips(monkeypatch):
    """Runs where torchvision's ImageNet AlexNet is in the user's torch hub cache (never downloaded by the tests):
    our trunk loading and the package's own give the same distances."""
    from pathlib import Path

    from brainbench.interpret.perceptual import ALEXNET_URL

    cached = Path(USER_HUB) / "checkpoints" / ALEXNET_URL.rsplit("/", 1)[1]
    if not cached.exists():
        pytest.skip(f"LPIPS' AlexNet trunk is not in torch hub's cache ({cached}); offline machines skip this check")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: USER_HUB)
    monkeypatch.setenv("TORCH_HOME", str(Path(USER_HUB).parent))
    images = _images(4, 64)
    ours = LPIPSDistance(images)
    reference = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()  # the package's own pretrained trunk
    a, b = np.array([0, 1, 2]), np.array([3, 2, 0])
    with torch.no_grad():
        want = [float(reference(images[i:i + 1], images[j:j + 1], normalize=True)) for i, j in zip(a, b)]
    np.testing.assert_allclose(ours(a, b), want, rtol=1e-5, atol=1e-7)


def _tiny_model():
    import brainbench

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 5, 3), torch.nn.Flatten())

    def preprocess(image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)

    return brainbench.wrap(net, preprocess, name="tiny"), net


def test_model_feature_distance_is_the_recipe_on_the_models_own_maps():
    model, net = _tiny_model()
    images = _images(5, 12)
    distance = ModelFeatureDistance(model, ["0", "2"], images, batch_size=2)
    a, b = np.array([0, 1, 3]), np.array([4, 2, 3])
    pixels = (images * 255).round() / 255  # through 8-bit PIL images and the model's preprocessing
    with torch.no_grad():
        first = net[0](pixels)
        second = net[2](net[1](first))
    want = feature_distance([first[a], second[a]], [first[b], second[b]]).numpy() / 2  # the mean of 2 layers
    np.testing.assert_allclose(distance(a, b), want, rtol=1e-5, atol=1e-7)
    assert distance(np.array([3]), np.array([3]))[0] == 0 and distance.name == "feature distance (tiny: layers 0, 2)"
    with pytest.raises(ConfigError, match="not \\(batch, channels, height, width\\) maps"):
        ModelFeatureDistance(model, ["3"], images)
    with pytest.raises(Exception, match="layer of tiny"):
        ModelFeatureDistance(model, ["9"], images)


def test_efficientnet_lite0_feature_distance_puts_a_noised_copy_nearer_than_other_images():
    import brainbench

    try:
        model = brainbench.get_model("efficientnet_lite0")
    except WeightsNotFoundError:
        pytest.skip("efficientnet_lite0's offline weights are not installed")
    base = _images(4, 64, seed=5)
    noisy = (base + 0.03 * torch.randn(base.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    distance = ModelFeatureDistance(model, ["_blocks.2", "_blocks.5"], torch.cat([base, noisy]))
    own = distance(np.arange(4), np.arange(4) + 4)  # each image against its noised copy
    other = distance(np.array([0, 1, 2, 3]), np.array([5, 6, 7, 4]))  # against another image's copy
    assert (own < other).all() and (own > 0).all()
    np.testing.assert_allclose(distance(np.array([1, 6]), np.array([6, 1])), distance(np.array([6, 1]), np.array([1, 6])))
