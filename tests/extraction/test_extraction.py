"""The extraction engine: layer naming and depth, duplicates, selection, token modes, memory passes,
on-the-fly reduction (checked against scikit-learn) and the activation cache."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import brainbench
from brainbench.extraction.activation_cache import ActivationCache
from brainbench.errors import ConfigError, MemoryBudgetError, UnknownNameError
from brainbench.extraction.plan import plan_extraction
from brainbench.extraction.provenance import forward_code
from brainbench.extraction.run import extract
from brainbench.testing import tiny_stimulus_set
from brainbench.extraction.torchvision_compat import import_torchvision


def to_tensor(img):
    return torch.from_numpy(np.asarray(img.resize((16, 16)), dtype=np.float32) / 255).permute(2, 0, 1).contiguous()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.same = nn.Identity()
        self.drop = nn.Dropout(0.5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.act(self.conv(x))
        x = self.act(self.drop(self.same(x)) * 2)  # act runs twice: act#1, act#2
        return self.fc(self.flat(self.pool(x)))


def net_model(**kw):
    return brainbench.wrap(Net(), to_tensor, name="net", **kw)


def manual(model, stimuli, fn):
    x = torch.stack([model.preprocess(stimuli.image(s)) for s in stimuli.ids])
    with torch.inference_mode():
        return fn(model.module, x)


def test_layers_are_named_by_module_path_with_calls_depths_and_duplicates():
    table = net_model().layer_table()
    names = [info.name for info in table]
    assert names == ["conv", "act#1", "same", "drop", "act#2", "pool", "flat", "fc"]
    depths = [info.depth for info in table]
    assert depths[0] == 0 and depths[-1] == 1 and depths == sorted(depths)
    np.testing.assert_allclose(depths, np.arange(8) / 7, atol=1e-6)
    same = {info.name: info.same_as for info in table}
    assert same == {"conv": None, "act#1": None, "same": "act#1", "drop": "act#1", "act#2": None,
                    "pool": None, "flat": "pool", "fc": None}
    assert table[0].shape == (4, 16, 16) and table[-1].shape == (3,)


def test_duplicates_are_extracted_once_and_equal():
    model, stimuli = net_model(), tiny_stimulus_set(n=4)
    features = model.extract(stimuli, ["act#1", "same", "drop", "pool", "flat"], progress=False, cache=False)
    assert features.plan.passes == [["act#1", "pool"]]
    assert features.same_as("same") == "act#1" and features.same_as("pool") is None
    np.testing.assert_array_equal(features["same"].values, features["act#1"].values)
    np.testing.assert_array_equal(features["flat"].values, features["pool"].values)
    assert features["same"].attrs["same_as"] == "act#1" and set(features["same"]["layer"].values) == {"same"}
    alone = model.extract(stimuli, ["drop"], progress=False, cache=False)  # its original not asked for
    np.testing.assert_array_equal(alone["drop"].values, features["act#1"].values)


class Gate(nn.Module):
    """Units positive unless the image is bright: a ReLU after them is a no-op on dark images only."""

    def __init__(self, inplace):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.relu = nn.ReLU(inplace=inplace)
        with torch.no_grad():
            self.fc.weight.fill_(-1.0)
            self.fc.bias.fill_(2.0)

    def forward(self, x):
        return self.relu(self.fc(x.mean(dim=(2, 3))))


@pytest.mark.parametrize("inplace", [False, True])
def test_layers_equal_only_on_the_traced_stimuli_are_not_duplicates(inplace):
    """Traced on two dark images the ReLU changes nothing; on a bright one it does. Reading it as a duplicate
    of the linear layer (equal values on the trace) would hand back negative 'ReLU' features."""
    model = brainbench.wrap(Gate(inplace), to_tensor, name="gate")
    images = [np.full((8, 8, 3), value, dtype=np.uint8) for value in (20, 60, 255)]
    stimuli = brainbench.StimulusSet.from_arrays(images)
    assert [info.same_as for info in model.layer_table(stimuli)] == [None, None]
    features = model.extract(stimuli, ["fc", "relu"], progress=False, cache=False)
    linear = (2.0 - 3 * np.array([20, 60, 255]) / 255)[:, None].repeat(2, 1)
    np.testing.assert_allclose(features["fc"].values, linear, rtol=1e-6)
    np.testing.assert_allclose(features["relu"].values, np.maximum(linear, 0), rtol=1e-6)


class CachedTable(nn.Module):
    """Builds a table on its first call and returns rows of it: built during an extraction, an inference tensor,
    which has no version counter."""

    def __init__(self):
        super().__init__()
        self.table = None
        self.same = nn.Identity()

    def forward(self, x):
        if self.table is None:
            self.table = torch.arange(64.0).reshape(16, 4)
        return self.same(self.table[: len(x)])


def test_outputs_without_a_version_counter_are_traced_and_never_duplicates():
    model, stimuli = brainbench.wrap(CachedTable(), to_tensor, name="cached"), tiny_stimulus_set(n=3)
    with torch.inference_mode():
        model.module(torch.zeros(2, 3, 16, 16))  # the table is now an inference tensor
    assert [(info.name, info.same_as) for info in model.layer_table(stimuli)] == [("same", None)]
    features = model.extract(stimuli, ["same"], progress=False, cache=False)
    np.testing.assert_array_equal(features["same"].values, np.arange(12.0).reshape(3, 4))


def test_shared_module_calls_are_read_out_separately():
    model, stimuli = net_model(), tiny_stimulus_set(n=3)
    features = model.extract(stimuli, ["act"], progress=False, cache=False)
    assert list(features) == ["act#1", "act#2"]

    def calls(net, x):
        first = torch.relu(net.conv(x))
        return first, torch.relu(first * 2)

    first, second = manual(model, stimuli, calls)
    np.testing.assert_array_equal(features["act#1"].values, first.reshape(3, -1).numpy())
    np.testing.assert_array_equal(features["act#2"].values, second.reshape(3, -1).numpy())


def test_layer_selection_by_name_glob_and_depth():
    model, stimuli = net_model(), tiny_stimulus_set(n=2)

    def chosen(*specs):
        return [p.name for p in plan_extraction(model, stimuli, specs, cache=False).layers]

    assert chosen("fc", "conv") == ["conv", "fc"]  # always forward order
    assert chosen("act*") == ["act#1", "act#2"]
    assert chosen("depth:0.5-1") == ["act#2", "pool", "flat", "fc"]  # 4/7.. 7/7
    assert chosen("depth:0-0", "f*") == ["conv", "flat", "fc"]
    with pytest.raises(UnknownNameError, match=r"unknown layer of net 'fcc'.*'fc'"):
        chosen("fcc")
    with pytest.raises(ConfigError, match="matches no layer"):
        chosen("block*")
    with pytest.raises(ConfigError, match="0 <= LO <= HI <= 1"):
        chosen("depth:0.8-0.2")


def test_default_candidates_are_blocks_of_the_module_tree():
    model = brainbench.get_model("resnet18", weights="random")
    assert model.default_layers[:4] == ["maxpool", "layer1.0", "layer1.1", "layer2.0"]  # the plugin's own list
    tv = import_torchvision()
    generic = brainbench.wrap(tv.models.resnet18(), to_tensor, name="r18")
    assert generic.default_layers[:6] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer1.0"]
    assert "layer1.0.conv1" not in generic.default_layers and generic.default_layers[-1] == "fc"


def vit_model(prefix=1):
    tv = import_torchvision()
    torch.manual_seed(0)
    net = tv.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32)

    def pre(img):
        return torch.from_numpy(np.asarray(img.resize((32, 32)), dtype=np.float32) / 255).permute(2, 0, 1).contiguous()

    return brainbench.wrap(net, pre, name="vit", prefix_tokens=prefix)


def vit_block_output(net, x):
    n = x.shape[0]
    tokens = net._process_input(x)
    tokens = torch.cat([net.class_token.expand(n, -1, -1), tokens], dim=1)
    return net.encoder.layers[0](net.encoder.dropout(tokens + net.encoder.pos_embedding))


@pytest.mark.parametrize("mode", ["cls", "mean", "all"])
def test_torchvision_vit_token_modes(mode):
    model, stimuli = vit_model(), tiny_stimulus_set(n=3)
    layer = "encoder.layers.encoder_layer_0"
    info = {i.name: i for i in model.layer_table()}[layer]
    assert info.tokens and info.shape == (17, 16)  # 16 patches + CLS
    features = model.extract(stimuli, [layer, "heads"], tokens=mode, progress=False, cache=False)
    out = manual(model, stimuli, vit_block_output)
    expected = {"cls": out[:, 0], "mean": out[:, 1:].mean(1), "all": out.reshape(3, -1)}[mode]
    np.testing.assert_allclose(features[layer].values, expected.numpy(), rtol=1e-6, atol=1e-6)
    assert features[layer].attrs["tokens"] == mode and features["heads"].attrs["tokens"] == "n/a"
    if mode == "all":
        assert features[layer]["token"].values.tolist() == np.repeat(np.arange(17), 16).tolist()


class SequenceFirst(nn.Module):
    """Permutes to (tokens, batch, channels) inside, as older open_clip transformers do."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.block = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=False)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1).permute(1, 0, 2)
        t = self.block(t).permute(1, 0, 2)
        return self.head(t[:, 0])


def test_sequence_first_outputs_are_read_batch_first():
    model = brainbench.wrap(SequenceFirst(), to_tensor, name="seqfirst", prefix_tokens=1)
    stimuli = tiny_stimulus_set(n=5)  # 5 stimuli, 17 tokens: the batch axis is found, not guessed
    info = {i.name: i for i in model.layer_table(stimuli)}["block"]
    assert info.batch_axis == 1 and info.tokens and info.shape == (17, 8)
    features = model.extract(stimuli, ["block"], tokens="cls", progress=False, cache=False)

    def block(net, x):
        t = net.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([net.cls.expand(t.shape[0], -1, -1), t], dim=1).permute(1, 0, 2)
        return net.block(t).permute(1, 0, 2)

    np.testing.assert_allclose(features["block"].values, manual(model, stimuli, block)[:, 0].numpy(), rtol=1e-6, atol=1e-6)


def test_cls_mode_needs_a_cls_token():
    with pytest.raises(ConfigError, match="has no CLS token"):
        vit_model(prefix=0).extract(tiny_stimulus_set(n=2), ["encoder.layers.encoder_layer_0"], tokens="cls",
                                    progress=False, cache=False)
    with pytest.raises(ConfigError, match="token mode 'first'"):
        vit_model().extract(tiny_stimulus_set(n=2), tokens="first", progress=False, cache=False)


def test_memory_limit_splits_layers_into_passes_with_the_same_features():
    model, stimuli = net_model(), tiny_stimulus_set(n=20)
    layers = ["conv", "act#1", "act#2", "pool", "fc"]
    whole = model.extract(stimuli, layers, batch_size=4, progress=False, cache=False)
    plan = plan_extraction(model, stimuli, layers, memory_limit=150_000, batch_size=4, cache=False)
    layer_bytes = 20 * 4 * 16 * 16 * 4  # 81,920 per conv-sized layer
    assert plan.forward_bytes_per_stimulus == 4 * (3 * 16 * 16 + 3 * 4 * 16 * 16 + 4 + 3)  # input, distinct outputs
    assert plan.passes == [["conv"], ["act#1"], ["act#2", "pool", "fc"]]
    by_name = {p.name: p for p in plan.layers}
    for group in plan.passes:
        assert sum(by_name[name].stored_bytes for name in group) <= plan.budget - plan.forward_bytes_per_stimulus
    assert by_name["conv"].stored_bytes == layer_bytes
    split = model.extract(stimuli, layers, batch_size=4, memory_limit=150_000, progress=False, cache=False)
    for layer in layers:
        np.testing.assert_array_equal(split[layer].values, whole[layer].values)


def test_a_pass_ends_each_forward_pass_at_its_last_layer():
    model, stimuli = net_model(), tiny_stimulus_set(n=10)
    runs = {"fc": 0}
    model.module.fc.register_forward_pre_hook(lambda *_: runs.__setitem__("fc", runs["fc"] + 1))  # a hook is part
    plan_extraction(model, stimuli, cache=False)  # of the model's identity: the trace's forward pass, done once
    manual_conv = manual(model, stimuli, lambda net, x: net.conv(x).flatten(1))

    def fc_runs(layers, **kw):
        before = runs["fc"]
        features = model.extract(stimuli, layers, batch_size=3, progress=False, cache=False, **kw)
        return runs["fc"] - before, features

    ran, early = fc_runs(["conv", "act#1"])
    assert ran == 0  # no batch went past act#1
    np.testing.assert_allclose(early["conv"].values, manual_conv, rtol=1e-5, atol=1e-6)
    assert fc_runs(["conv", "fc"])[0] == 4  # 10 stimuli in batches of 3: every batch runs to fc
    ran, split = fc_runs(["conv", "act#2", "fc"], memory_limit=150_000)  # passes [conv], [act#2, fc]
    assert ran == 4  # only the pass holding fc runs the whole network
    np.testing.assert_allclose(split["conv"].values, manual_conv, rtol=1e-5, atol=1e-6)


def test_batch_size_is_chosen_to_fit_the_budget():
    model, stimuli = net_model(), tiny_stimulus_set(n=40)
    plan = plan_extraction(model, stimuli, ["fc"], memory_limit=110_000, cache=False)
    per_stimulus = plan.forward_bytes_per_stimulus
    assert plan.budget == 104_500  # 5% of the limit is headroom: the whole limit would allow a batch of 7
    assert plan.batch_sizes == [(104_500 - 40 * 3 * 4) // per_stimulus] == [6]


def test_memory_limit_errors_say_what_does_not_fit():
    model, stimuli = net_model(), tiny_stimulus_set(n=20)
    with pytest.raises(MemoryBudgetError, match=r"smaller than one stimulus's forward pass.*largest layer 'conv'"):
        plan_extraction(model, stimuli, ["fc"], memory_limit="10KB", cache=False)
    with pytest.raises(MemoryBudgetError, match=r"layer 'conv' of net needs 81.9 KB.*--reduce srp"):
        plan_extraction(model, stimuli, ["conv"], memory_limit="60KB", cache=False)
    plan = plan_extraction(model, stimuli, ["conv"], memory_limit="60KB", reduce="srp:16", cache=False)
    assert plan.layers[0].units == 16 and plan.layers[0].reduction.startswith("srp:16")
    with pytest.raises(ConfigError, match="is not a size"):
        plan_extraction(model, stimuli, ["conv"], memory_limit="lots", cache=False)


def test_batches_fit_a_cuda_devices_free_memory(monkeypatch):
    from brainbench.extraction import plan as extraction
    from brainbench.extraction.memory import device_free_memory

    assert device_free_memory("cpu") is None and device_free_memory("mps") is None  # the host's memory: the limit
    model, stimuli = net_model(), tiny_stimulus_set(n=40)
    monkeypatch.setattr(extraction, "device_free_memory", lambda device: 100_000)  # as a CUDA device would say
    plan = plan_extraction(model, stimuli, ["fc"], memory_limit="1GB", cache=False)
    assert plan.batch_sizes == [95_000 // plan.forward_bytes_per_stimulus] == [6]  # not the host's 64
    assert "(cpu, 100.0 KB free)" in plan.summary()
    monkeypatch.setattr(extraction, "device_free_memory", lambda device: 10_000)
    with pytest.raises(MemoryBudgetError, match=r"needs 15.4 KB on cpu, which has 10.0 KB free.*--device cpu"):
        plan_extraction(model, stimuli, ["fc"], memory_limit="1GB", cache=False)


class OutOfMemoryNet(Net):
    """Runs out of (device) memory on batches of more than two stimuli."""

    def forward(self, x):
        if len(x) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(x)


def test_running_out_of_device_memory_says_to_lower_the_batch_size():
    model, stimuli = brainbench.wrap(OutOfMemoryNet(), to_tensor, name="oom"), tiny_stimulus_set(n=6)
    with pytest.raises(MemoryBudgetError, match=r"ran out of memory on a batch of 4 stimuli.*smaller --batch-size"):
        model.extract(stimuli, ["fc"], batch_size=4, progress=False, cache=False)
    assert model.extract(stimuli, ["fc"], batch_size=2, progress=False, cache=False)["fc"].shape == (6, 3)


def test_sparse_random_projection_equals_scikit_learn():
    from sklearn.random_projection import SparseRandomProjection

    model, stimuli = net_model(), tiny_stimulus_set(n=12)
    full = model.extract(stimuli, ["conv", "fc"], progress=False, cache=False)
    reduced = model.extract(stimuli, ["conv", "fc"], reduce="srp:50", seed=7, progress=False, cache=False)
    reference = SparseRandomProjection(n_components=50, random_state=7).fit_transform(full["conv"].values)
    np.testing.assert_allclose(reduced["conv"].values, reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(reduced["fc"].values, full["fc"].values)  # 3 units: kept whole
    assert reduced["conv"].attrs["reduction"] == "srp:50 (seed 7)" and reduced["fc"].attrs["reduction"] == "none"


def test_pca_fitted_on_a_subset_equals_scikit_learn():
    from sklearn.decomposition import PCA

    model, stimuli = net_model(), tiny_stimulus_set(n=30)
    full = model.extract(stimuli, ["conv"], progress=False, cache=False)
    reduced = model.extract(stimuli, ["conv"], reduce="pca:5/20", seed=3, progress=False, cache=False)
    assert len(reduced.plan.fit_passes) == 1
    subset = np.sort(np.random.default_rng(3).choice(30, size=20, replace=False))
    pca = PCA(n_components=5, random_state=3).fit(full["conv"].values[subset])
    np.testing.assert_allclose(reduced["conv"].values, pca.transform(full["conv"].values), rtol=1e-3, atol=1e-4)
    with pytest.raises(ConfigError, match="needs at least 50 stimuli"):
        model.extract(stimuli, ["conv"], reduce="pca:50", progress=False, cache=False)
    with pytest.raises(ConfigError, match="srp:K or pca:K"):
        model.extract(stimuli, ["conv"], reduce="ica:5", progress=False, cache=False)


def test_cache_hit_is_bit_identical_to_recomputation(tmp_path):
    cache = ActivationCache(tmp_path)
    model, stimuli = net_model(), tiny_stimulus_set(n=6)
    first = model.extract(stimuli, ["conv", "fc"], cache=cache, progress=False)
    again = model.extract(stimuli, ["conv", "fc"], cache=cache, progress=False)
    assert [p.cached for p in first.plan.layers] == [False, False]
    assert [p.cached for p in again.plan.layers] == [True, True] and again.plan.passes == []
    fresh = model.extract(stimuli, ["conv", "fc"], cache=False, progress=False)
    for layer in ("conv", "fc"):
        assert again[layer].values.tobytes() == fresh[layer].values.tobytes() == first[layer].values.tobytes()


def test_any_change_to_what_makes_the_numbers_misses_the_cache(tmp_path):
    cache = ActivationCache(tmp_path)
    stimuli = tiny_stimulus_set(n=4)
    base = net_model()
    base.extract(stimuli, ["fc"], cache=cache, progress=False)

    def cached(model=base, stim=stimuli, **kw):
        return plan_extraction(model, stim, ["fc"], cache=cache, **kw).layers[0].cached

    assert cached()
    shifted = brainbench.wrap(Net(), lambda img: to_tensor(img) - 0.5, name="net")  # other normalisation
    assert not cached(shifted)
    resized = brainbench.wrap(Net(), lambda img: to_tensor(img.resize((20, 20))), name="net")  # other image size
    assert not cached(resized)
    other_weights = net_model()
    with torch.no_grad():
        other_weights.module.fc.bias.add_(1.0)
    assert not cached(other_weights)
    images = [np.asarray(tiny_stimulus_set(n=4).image(s)) for s in stimuli.ids]
    images[2] = 255 - images[2]
    assert not cached(stim=brainbench.StimulusSet.from_arrays(images, stimuli.ids))  # one image changed
    assert not cached(stim=stimuli.subset(stimuli.ids[::-1]))  # other order
    vit, vit_stimuli = vit_model(), tiny_stimulus_set(n=3)
    vit.extract(vit_stimuli, ["encoder.layers.encoder_layer_0"], tokens="cls", cache=cache, progress=False)
    assert not plan_extraction(vit, vit_stimuli, ["encoder.layers.encoder_layer_0"], tokens="mean",
                               cache=cache).layers[0].cached
    big = plan_extraction(base, stimuli, ["conv"], cache=cache, reduce="srp:8")
    base.extract(stimuli, ["conv"], cache=cache, reduce="srp:8", progress=False)
    assert plan_extraction(base, stimuli, ["conv"], cache=cache, reduce="srp:8").layers[0].cached
    assert not plan_extraction(base, stimuli, ["conv"], cache=cache, reduce="srp:8", seed=1).layers[0].cached
    assert not big.layers[0].cached


def test_a_changed_forward_with_the_same_weights_misses_the_cache(tmp_path, monkeypatch, request):
    """A user's model module edited between runs (same class, same weights, new forward): the key follows its source."""
    import importlib
    import sys

    source = """import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()
        torch.manual_seed(0)\n        self.fc = torch.nn.Linear(768, 3)\n    def forward(self, x):\n        return self.fc(x.flatten(1){})\n"""
    (tmp_path / "labnet.py").write_text(source.format(""))
    monkeypatch.syspath_prepend(str(tmp_path))
    request.addfinalizer(lambda: sys.modules.pop("labnet", None))  # no other test sees this module
    cache, stimuli = ActivationCache(tmp_path / "cache"), tiny_stimulus_set(n=3)

    def run():
        module = importlib.import_module("labnet")
        model = brainbench.wrap(module.Net(), to_tensor, name="labnet")
        return model.extract(stimuli, ["fc"], cache=cache, progress=False)

    first = run()
    assert first.plan.layers[0].cached is False and run().plan.layers[0].cached is True
    (tmp_path / "labnet.py").write_text(source.format(" * 2"))  # a fix to the forward; the weights are the same
    del sys.modules["labnet"]
    changed = run()
    assert changed.plan.layers[0].cached is False
    net = importlib.import_module("labnet").Net()
    before, after = first["fc"].values, changed["fc"].values
    np.testing.assert_allclose(after - before, before - net.fc.bias.detach().numpy(), rtol=1e-4, atol=1e-6)  # fc(2x) - fc(x) = Wx
    code = forward_code(net)
    assert code["labnet"].startswith("sha256:") and code["torch"] == torch.__version__


def test_corrupt_cache_entry_is_detected_and_recomputed(tmp_path):
    cache = ActivationCache(tmp_path)
    model, stimuli = net_model(), tiny_stimulus_set(n=4)
    first = model.extract(stimuli, ["conv"], cache=cache, progress=False)
    expected = np.array(first["conv"].values)
    entry = next(tmp_path.rglob("*.npy"))
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF
    entry.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="is corrupt.*recomputing"):
        again = model.extract(stimuli, ["conv"], cache=cache, progress=False)
    np.testing.assert_array_equal(again["conv"].values, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(model.extract(stimuli, ["conv"], cache=cache, progress=False)["conv"].values, expected)


class Recorder(nn.Module):
    """Records whether its forward ran under inference mode, and whether autograd recorded it."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        return x * 2


def test_extraction_is_deterministic_and_in_inference_mode():
    model, stimuli = net_model(), tiny_stimulus_set(n=5)
    a = extract(model, stimuli, ["fc"], cache=False, progress=False)
    b = extract(model, stimuli, ["fc"], cache=False, progress=False)
    assert a["fc"].values.tobytes() == b["fc"].values.tobytes()
    recorder = Recorder()
    extract(brainbench.wrap(nn.Sequential(recorder, nn.Flatten()), to_tensor, name="rec"), stimuli, ["1"],
            batch_size=2, cache=False, progress=False)
    # the trace without autograd but outside inference mode (in-place changes must count), then 3 batches
    assert recorder.seen == [(False, False)] + [(True, False)] * 3


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.flat = nn.Flatten()

    def forward(self, x):
        return self.flat(x + torch.randn_like(x))


def test_a_random_model_leaves_the_callers_generator_where_it_was():
    """The plan's trace draws under the extraction's seed too (it drew from the caller's generator)."""
    model, stimuli = brainbench.wrap(Noisy(), to_tensor, name="noisy"), tiny_stimulus_set(n=4)
    state = torch.get_rng_state()
    first = extract(model, stimuli, ["flat"], seed=7, cache=False, progress=False)["flat"].values
    assert torch.equal(torch.get_rng_state(), state)
    plan_extraction(model, stimuli, ["flat"], seed=7, cache=False)
    assert torch.equal(torch.get_rng_state(), state)
    again = extract(model, stimuli, ["flat"], seed=7, cache=False, progress=False)["flat"].values
    assert np.array_equal(first, again) and np.abs(first - manual(model, stimuli, lambda m, x: x.flatten(1)).numpy()).std() > 0.5


def test_efficientnet_lite0_logits_through_the_extraction_path():
    """Real weights, real photo: espresso (967) at the classifier layer, via hooks, plan and cache."""
    import skimage.data

    model = brainbench.get_model("efficientnet_lite0")
    stimuli = brainbench.StimulusSet.from_arrays([skimage.data.coffee(), skimage.data.rocket()], ["coffee", "rocket"])
    logits = model.extract(stimuli, ["_fc"], progress=False)["_fc"]
    assert logits.sizes["neuroid"] == 1000
    assert logits.values.argmax(1).tolist() == [967, 657]
