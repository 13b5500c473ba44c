"""A model's identity follows its parameters: every in-place change to a wrapped network (weights, buffers,
train/eval mode, a replaced submodule) changes the weights hash or code the activation cache, the layer
trace and score provenance use, and the features are the changed network's forward pass."""

import copy
import hashlib
from importlib.metadata import version

import numpy as np
import pytest
import torch
from torch import nn

import brainbench
import brainbench.extraction.identity
from brainbench import DatasetCard
from brainbench.extraction.activation_cache import ActivationCache
from brainbench.data.assembly import neural_assembly
from brainbench.registry.contracts import Dataset
from brainbench.extraction.identity import ROW, module_tree, stable_repr, state_fingerprint, state_hash
from brainbench.testing import ContractError, check_model, tiny_stimulus_set
from brainbench.extraction.torch_model import TorchModel
from brainbench.extraction.torchvision_compat import import_torchvision


def to_tensor(img):
    return torch.from_numpy(np.asarray(img.resize((16, 16)), dtype=np.float32) / 255).permute(2, 0, 1).contiguous()


class Scale(nn.Module):
    """Multiplies by a plain attribute (not a parameter or buffer)."""

    def __init__(self):
        super().__init__()
        self.factor = 1.0

    def forward(self, x):
        return x * self.factor


class Net(nn.Module):
    """A small conv net with batch norm, a buffer outside the state dict, and a head big enough (20,480 float32,
    10,240 64-bit words) for the fingerprint's grid of rows."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(256, 80)
        self.scale = Scale()
        self.register_buffer("gain", torch.ones(1), persistent=False)

    def forward(self, x):
        return self.fc(self.scale(self.flat(self.pool(self.act(self.bn(self.conv(x)))))) * self.gain)


def fresh_forward(net, stimuli, layer):
    """The layer's output for every stimulus, from a copy of ``net`` in eval mode (a fresh wrap's forward pass)."""
    copied = copy.deepcopy(net).eval()
    x = torch.stack([to_tensor(stimuli.image(s)) for s in stimuli.ids])
    out = {}
    copied.get_submodule(layer).register_forward_hook(lambda _m, _i, o: out.setdefault("y", o.flatten(1)))
    with torch.no_grad():
        copied(x)
    return out["y"].numpy()


def in_eval(fn):
    def change(net):
        fn(net)
        net.eval()  # the route changed the state; the mode is as wrapped

    return change


def optimiser_step(net, **options):
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05, **options) if options else torch.optim.SGD(
        net.parameters(), lr=0.5)
    net(torch.rand(4, 3, 16, 16)).pow(2).mean().backward()  # in eval mode: batch norm's statistics stay
    optimiser.step()


def batch_norm_statistics(net):  # a training-mode forward pass updates running_mean/var in place
    net.train()
    with torch.no_grad():
        net(torch.rand(4, 3, 16, 16) * 3)
    net.eval()


def scale_under_no_grad(net):
    with torch.no_grad():
        net.conv.weight.mul_(-2)


def swap_words(net):  # two weights exchanged: every plain sum of the values stays the same
    w = net.fc.weight.data
    w[0, 0], w[1, 0] = w[1, 0].clone(), w[0, 0].clone()


ROUTES = {
    "optimiser step": optimiser_step,
    "fused optimiser step (no version bump)": lambda net: optimiser_step(net, fused=True),
    "no_grad mul_": scale_under_no_grad,
    ".data mul_ (no version bump)": lambda net: net.conv.weight.data.mul_(-2),
    "numpy view (no version bump)": lambda net: np.multiply(net.conv.weight.detach().numpy(), -2,
                                                            out=net.conv.weight.detach().numpy()),
    "dlpack (no version bump)": lambda net: torch.from_dlpack(net.fc.weight.detach()).mul_(-2),
    "load_state_dict": lambda net: net.load_state_dict(Net(seed=1).state_dict()),
    "parameter reassigned": lambda net: setattr(net.conv, "weight", nn.Parameter(net.conv.weight.detach() * -2)),
    "two weights swapped": swap_words,
    "batch-norm statistics": batch_norm_statistics,
    "buffer outside the state dict": lambda net: net.gain.fill_(3.0),
    "submodule replaced": in_eval(lambda net: setattr(net, "fc", nn.Linear(256, 80))),  # (a new module trains)
    "submodule replaced, no parameters": in_eval(lambda net: setattr(net, "act", nn.GELU())),
    "plain attribute": lambda net: setattr(net.scale, "factor", 2.0),
    "forward hook": lambda net: net.act.register_forward_hook(lambda _m, _i, out: out * 0.5),
}
SAME_STATE = {"submodule replaced, no parameters", "plain attribute", "forward hook"}  # the module tree changes


@pytest.mark.parametrize("route", list(ROUTES), ids=list(ROUTES))
def test_every_in_place_route_changes_the_identity_and_the_features(route, tmp_path):
    net, stimuli, cache = Net(), tiny_stimulus_set(n=4), ActivationCache(tmp_path)
    model = brainbench.wrap(net, to_tensor, name="net")
    before = model.extract(stimuli, ["fc"], cache=cache, progress=False)
    identity = model.identity()
    np.testing.assert_allclose(before["fc"].values, fresh_forward(net, stimuli, "fc"), rtol=1e-5, atol=1e-6)

    ROUTES[route](net)
    after = model.extract(stimuli, ["fc"], cache=cache, progress=False)
    assert after.plan.layers[0].cached is False  # not the old features from the cache
    expected = fresh_forward(net, stimuli, "fc")
    assert not np.allclose(expected, before["fc"].values, atol=1e-4)  # the route did change the network
    np.testing.assert_allclose(after["fc"].values, expected, rtol=1e-5, atol=1e-6)
    assert model.identity() != identity
    if route in SAME_STATE:
        assert model.weights_hash() == identity["weights_hash"]
        assert model.code_versions()["module tree"] != identity["code"]["module tree"]
    else:
        assert model.weights_hash() != identity["weights_hash"]
        assert model.weights_hash() == brainbench.wrap(copy.deepcopy(net), to_tensor, name="net").weights_hash()
    assert after["fc"].attrs["weights_hash"] == model.weights_hash()


def test_an_unchanged_model_keeps_its_hash_and_hits_the_cache(tmp_path, monkeypatch):
    net, stimuli, cache = Net(), tiny_stimulus_set(n=4), ActivationCache(tmp_path)
    model = brainbench.wrap(net, to_tensor, name="net")
    first = model.extract(stimuli, ["conv", "fc"], cache=cache, progress=False)
    digest = model.weights_hash()
    hashed = []
    monkeypatch.setattr(brainbench.extraction.identity, "state_hash", lambda module: hashed.append(1) or state_hash(module))
    second = model.extract(stimuli, ["conv", "fc"], cache=cache, progress=False)
    assert [p.cached for p in second.plan.layers] == [True, True]
    np.testing.assert_array_equal(second["fc"].values, first["fc"].values)
    assert model.weights_hash() == digest and hashed == []  # the fingerprint matched: no sha256 again
    assert brainbench.wrap(Net(), to_tensor, name="other").weights_hash() == digest  # equal state, equal hash


def test_the_weights_hash_is_the_sha256_of_the_state_dict_in_eval_mode():
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2))
    expected = hashlib.sha256()  # the weights hash as it always was: names, dtypes, shapes, bytes in name order
    for key, tensor in sorted(net.state_dict().items()):
        expected.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        expected.update(tensor.contiguous().numpy().tobytes())
    model = brainbench.wrap(net, to_tensor, name="seq")
    assert model.weights_hash() == expected.hexdigest()
    net[1].train()  # a submodule in training mode joins the hash by its path
    training = expected.copy()
    training.update(b"\0training\n1")
    assert model.weights_hash() == training.hexdigest()


def test_train_and_eval_mode_change_the_hash_and_come_back():
    net = Net()
    model = brainbench.wrap(net, to_tensor, name="net")
    hashes = [model.weights_hash()]
    net.train()
    hashes.append(model.weights_hash())
    net.eval()
    hashes.append(model.weights_hash())
    net.bn.train()  # one submodule only
    hashes.append(model.weights_hash())
    assert hashes[0] == hashes[2] and len({hashes[0], hashes[1], hashes[3]}) == 3


class Words(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("w", torch.arange(1, n + 1, dtype=torch.int64) * 7919)


@pytest.mark.parametrize(("first", "second"), [(0, 1), (5, 5 + ROW), (3, 3 + 2 * ROW + 1), (2 * ROW + 2, 2 * ROW + 4)],
                         ids=["same-row", "same-column", "elsewhere", "past-the-last-row"])
def test_the_fingerprint_sees_two_words_exchanged(first, second):
    """Any exchange of two different words changes a row or a column sum of the grid (a plain sum would not)."""
    module = Words(2 * ROW + 5)  # two full rows and five words after them
    before = state_fingerprint(module)
    w = module.w
    total = int(w.sum())
    w[first], w[second] = w[second].clone(), w[first].clone()
    assert int(w.sum()) == total and state_fingerprint(module) != before
    w[first], w[second] = w[second].clone(), w[first].clone()
    assert state_fingerprint(module) == before


@pytest.mark.parametrize("index", [0, ROW - 1, ROW + 17, 2 * ROW + 4])
def test_the_fingerprint_sees_one_bit(index):
    module = Words(2 * ROW + 5)
    before = state_fingerprint(module)
    module.w[index] ^= 1 << 40
    assert state_fingerprint(module) != before


def test_the_fingerprint_does_not_depend_on_the_tensors_alignment():
    flat = torch.arange(2 * 4 * ROW + 3, dtype=torch.float32)  # a parameter starting 4 bytes into its storage
    module = nn.Module()
    module.register_buffer("w", flat[1:])
    copied = nn.Module()
    copied.register_buffer("w", flat[1:].clone())
    assert state_fingerprint(module) == state_fingerprint(copied) and state_hash(module) == state_hash(copied)


class Lesion(nn.Module):
    def forward(self, x):
        return x


def test_the_trace_follows_a_replaced_submodule_and_the_mode():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Identity(), nn.Dropout(0.5), nn.Flatten())
    model = brainbench.wrap(net, to_tensor, name="seq")
    table = {info.name: info for info in model.layer_table()}
    assert table["2"].type == "Identity" and table["2"].same_as == "1" and table["3"].same_as == "1"
    net[2] = nn.ReLU().eval()  # same state and modes; its output is new memory, no longer layer 1's
    table = {info.name: info for info in model.layer_table()}
    assert table["2"].type == "ReLU" and table["2"].same_as is None and table["3"].same_as == "2"
    net.train()  # dropout now draws a mask: its output is new memory
    table = {info.name: info for info in model.layer_table()}
    assert table["3"].same_as is None


def test_default_layers_follow_a_replaced_submodule():
    net = Net()
    model = brainbench.wrap(net, to_tensor, name="net")
    assert model.default_layers == ["conv", "bn", "act", "pool", "flat", "fc", "scale"]
    net.fc = nn.Sequential(nn.Linear(256, 10), nn.ReLU())
    assert model.default_layers == ["conv", "bn", "act", "pool", "flat", "fc", "fc.0", "fc.1", "scale"]
    assert brainbench.wrap(net, to_tensor, name="net", layers=["conv"]).default_layers == ["conv"]


def test_code_versions_follow_a_submodule_from_another_package():
    tv = import_torchvision()
    net = Net()
    model = brainbench.wrap(net, to_tensor, name="net")
    assert "torchvision" not in model.code_versions()
    net.act = tv.ops.Permute([0, 1, 2, 3])
    code = model.code_versions()
    assert code["torchvision"] == f"torchvision=={version('torchvision')}" and code["module tree"] == module_tree(net)


def test_a_hook_and_an_instance_forward_change_the_module_tree():
    net = Net()
    trees = [module_tree(net)]
    handle = net.act.register_forward_hook(lambda _m, _i, o: o * 0)  # a lesion
    trees.append(module_tree(net))
    handle.remove()
    trees.append(module_tree(net))
    net.act.forward = Lesion().forward
    trees.append(module_tree(net))
    assert trees[0] == trees[2] and len({trees[0], trees[1], trees[3]}) == 3


class Resize:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        return torch.from_numpy(np.asarray(img.resize((self.size, self.size)), dtype=np.float32)).permute(2, 0, 1)


def make_preprocess():
    def preprocess(img):
        return to_tensor(img)

    return preprocess


def test_the_preprocess_fingerprint_follows_the_transform_and_not_its_address():
    transform = Resize(16)
    model = brainbench.wrap(Net(), transform, name="net")
    before = model.preprocess_fingerprint()
    transform.size = 12  # changed in place after wrapping
    assert model.preprocess_fingerprint() != before
    a, b = make_preprocess(), make_preprocess()  # two function objects: same code, different addresses
    assert repr(a) != repr(b) and stable_repr(a) == stable_repr(b) == "<function make_preprocess.<locals>.preprocess>"
    assert (brainbench.wrap(Net(), a, name="net").preprocess_fingerprint()
            == brainbench.wrap(Net(), b, name="net").preprocess_fingerprint())


class Frozen(TorchModel):
    """A third-party model that computes its hash once: the contract check refuses it."""

    def weights_hash(self):
        if not hasattr(self, "_once"):
            self._once = super().weights_hash()
        return self._once


def test_the_model_contract_requires_a_hash_that_follows_the_state():
    good = brainbench.wrap(Net(), to_tensor, name="net")
    check_model(good, layers=["conv"])
    frozen = Frozen(Net(), to_tensor, good.card, weights="custom")
    with pytest.raises(ContractError, match="weights_hash did not change when a parameter"):
        check_model(frozen, layers=["conv"])
    assert frozen.module.conv.weight.equal(Net().conv.weight)  # the check restored the parameter


class Readout(Dataset):
    """Responses: a fixed random readout of 20 of the wrapped net's ``fc`` units on the original weights."""

    def __init__(self):
        self.card = DatasetCard(name="readout", species="none", recording="synthetic", regions=["r"])

    def stimulus_set(self):
        return tiny_stimulus_set(n=40)

    def assembly(self, region=None, subjects=None):
        stimuli = self.stimulus_set()
        features = fresh_forward(Net(), stimuli, "fc")
        values = features @ np.random.default_rng(0).standard_normal((80, 4))
        return neural_assembly(values, stimulus_id=stimuli.ids, neuroid_id=["a", "b", "c", "d"], region="r",
                               subject="x")


def test_the_issues_example_score_and_provenance_follow_a_weight_changed_in_place(dataset_plugin):
    """wrap, score, multiply a conv weight by -2 in place, score again: the score and provenance are a fresh wrap's."""
    dataset_plugin(Readout, {"id": "readout.r", "dataset": "readout", "region": "r", "metric": "ridge",
                             "ceiling": "none", "version": "1"})
    net = Net()
    model = brainbench.wrap(net, to_tensor, name="net", layers=["fc"])
    before = brainbench.score(model, "readout.r", progress=False)  # the activation cache is on
    with torch.no_grad():
        net.conv.weight.mul_(-2)
    after = brainbench.score(model, "readout.r", progress=False)
    fresh = brainbench.score(brainbench.wrap(copy.deepcopy(net), to_tensor, name="net", layers=["fc"]), "readout.r",
                             progress=False)
    assert before.raw > 0.5 > 0.1 > after.raw  # a readout of the original net (0.60), of the changed one (0.03)
    assert after.raw == fresh.raw and after.layers == fresh.layers
    assert after.provenance.weights_hash == fresh.provenance.weights_hash == model.weights_hash()
    assert after.provenance.weights_hash != before.provenance.weights_hash
    assert after.provenance.code == fresh.provenance.code


def test_a_score_in_training_mode_records_the_state_its_features_came_from(dataset_plugin):
    """A training-mode forward pass moves batch norm's statistics: the provenance and the features name the state
    the extraction started from (the one in the cache key), not the one it left behind."""
    dataset_plugin(Readout, {"id": "readout.r", "dataset": "readout", "region": "r", "metric": "ridge",
                             "ceiling": "none", "version": "1"})
    net = Net().train()
    model = brainbench.wrap(net, to_tensor, name="net", layers=["fc"])
    net.train()  # (wrap sets eval mode)
    start = model.weights_hash()
    result = brainbench.score(model, "readout.r", progress=False, cache=False)
    assert result.provenance.weights_hash == start != model.weights_hash()
    start = model.weights_hash()
    features = model.extract(tiny_stimulus_set(n=4), ["fc"], cache=False, progress=False)
    assert features["fc"].attrs["weights_hash"] == features.plan.identity["weights_hash"] == start
    assert model.weights_hash() != start


class Tokens(nn.Module):
    """A CLS token and 16 patch tokens of 8 channels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.block = nn.Identity()

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        return self.block(torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1))


def test_the_prefix_tokens_set_on_the_wrapper_join_the_cache_key(tmp_path):
    net, stimuli, cache = Tokens(), tiny_stimulus_set(n=3), ActivationCache(tmp_path)
    model = brainbench.wrap(net, to_tensor, name="tokens", prefix_tokens=1)
    x = torch.stack([to_tensor(stimuli.image(s)) for s in stimuli.ids])
    with torch.no_grad():
        tokens = net(x).numpy()
    first = model.extract(stimuli, ["block"], tokens="mean", cache=cache, progress=False)
    np.testing.assert_allclose(first["block"].values, tokens[:, 1:].mean(1), rtol=1e-5, atol=1e-6)
    model.prefix_tokens = 0  # corrected after wrapping: the CLS token now counts as a patch
    again = model.extract(stimuli, ["block"], tokens="mean", cache=cache, progress=False)
    assert again.plan.layers[0].cached is False
    np.testing.assert_allclose(again["block"].values, tokens.mean(1), rtol=1e-5, atol=1e-6)


def test_the_device_sums_equal_the_cpu_sums():
    """The fingerprint's sums off the CPU run in torch on the device; with the same words they give numpy's bytes
    (overflow wraps mod 2^64 in both), so a model's fingerprint does not depend on where it lives."""
    words = torch.from_numpy(np.random.default_rng(0).integers(-2**63, 2**63 - 1, 3 * ROW + 7, dtype=np.int64))
    assert brainbench.extraction.identity._torch_sums(words) == brainbench.extraction.identity._numpy_sums(words)
    grid = words.numpy()[: 3 * ROW].reshape(3, ROW)
    column = sum(int(v) for v in grid[:, 0]) % 2**64  # a column sum by hand, in Python's unbounded integers
    assert np.frombuffer(brainbench.extraction.identity._numpy_sums(words)[:8], dtype=np.uint64)[0] == column
