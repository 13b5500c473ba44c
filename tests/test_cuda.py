"""GPU checks: every CUDA code path against the CPU result on the same seeded data (``make gpu-check``).

Each check runs one path on the device under test and on the CPU and compares the two: extracted features
(a small conv net, strict float32 and with cuDNN's default TF32; efficientnet_lite0 with real weights, whose
logits must still name espresso and rocket), on-device reduction (SRP, PCA), feature statistics, every RDM
distance and crossnobis, the RSA/CRSA metrics, ridge (LOO and k-fold, float64 and float32), eReg and eRSA,
Brain-Score's regressions and CKA, banded ridge on himalaya's ``torch_cuda`` backend, seeded extraction
(repeats, and leaves the caller's CUDA generator alone), the extraction batch cap under a fake and under a
real limited free-memory reading, a real CUDA out-of-memory error (reported with the batch size to lower,
then recovered by the automatic batch size), and ``pick_device`` on CUDA.

Every test is marked ``cuda`` and skipped, with the reason, where ``torch.cuda.is_available()`` is false,
so ``make test`` (CI, no GPU) collects and skips them. ``BRAINBENCH_CUDA_CHECK_DEVICE=cpu`` runs every check
that does not need a real GPU with the CPU as the device under test (CPU against CPU): the way to exercise
the checks' logic on a machine without one.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.spatial.distance import pdist, squareform
from torch import nn

import brainbench
from brainbench import SplitSpec
from brainbench.data.assembly import combine_layers, neural_assembly
from brainbench.errors import ConfigError, MemoryBudgetError
from brainbench.extraction.plan import MAX_BATCH, plan_extraction
from brainbench.encoding.feature_stats import feature_statistics
from brainbench.extraction.memory import device_free_memory
from brainbench.rdm.distances import DISTANCES, crossnobis, dissimilarity, noise_precision, rdms_of_responses
from brainbench.scoring.splits import make_splits
from brainbench.testing import feature_assembly, tiny_stimulus_set

DEVICE = os.environ.get("BRAINBENCH_CUDA_CHECK_DEVICE", "cuda")
HAS_CUDA = torch.cuda.is_available()
NO_CUDA = "no CUDA device (torch.cuda.is_available() is False); run make gpu-check on a machine with an NVIDIA GPU"

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not HAS_CUDA, reason=NO_CUDA)]
needs_cuda = pytest.mark.skipif(not HAS_CUDA or not DEVICE.startswith("cuda"),
                                reason=f"needs a real CUDA device (device under test: {DEVICE})")


# ---------------------------------------------------------------------------------------------------- helpers

def to_tensor(img, size=32):
    return torch.from_numpy(np.asarray(img.resize((size, size)), dtype=np.float32) / 255).permute(2, 0, 1).contiguous()


class ConvNet(nn.Module):
    """Two convolutions (one strided), batch norm with non-trivial statistics, pooling and a linear readout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(64, 10)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.2, 0.2)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        return self.fc(self.flat(self.pool(self.relu2(self.bn(self.conv2(x))))))


LAYERS = ["conv1", "relu1", "conv2", "bn", "pool", "fc"]


def extracted(model, stimuli, layers, device, **options):
    """{layer: float64 array} of ``model`` on ``device``, without the activation cache (its key holds the device)."""
    features = model.extract(stimuli, layers, device=device, cache=False, progress=False, **options)
    return {name: np.asarray(features[name].values, dtype=np.float64) for name in features}


def assert_features_close(ours, reference, rel):
    """Each layer within ``rel`` of the reference layer's largest magnitude (float32 and TF32 round per element)."""
    assert ours.keys() == reference.keys()
    for name, ref in reference.items():
        scale = max(float(np.abs(ref).max()), 1e-12)
        np.testing.assert_allclose(ours[name], ref, rtol=0, atol=rel * scale, err_msg=f"layer {name}")


def encoding_problem(n=60, p=300, q=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(3, 0.2, p) + 2.0
    Y = X[:, :20] @ rng.standard_normal((20, q)) * 0.2 + rng.standard_normal((n, q)) * np.linspace(0.5, 3, q)
    ids = [f"s{i}" for i in range(n)]
    features = xr.DataArray(X.astype(np.float32), dims=("presentation", "neuroid"),
                            coords={"stimulus_id": ("presentation", ids)})
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"v{j}" for j in range(q)], region="IT",
                             subject=["a"] * (q // 2) + ["b"] * (q - q // 2))
    return X, Y, features, target


def scored(metric_type, features, target, splits, device, **options):
    """(train, test, extra) of a metric on ``device``, as numpy arrays."""
    result = metric_type(device=device, **options)(features, target, splits)
    extra = {k: np.asarray(v.values) for k, v in (result.extra or {}).items()}
    return np.asarray(result.train.values), np.asarray(result.test.values), extra


def assert_scores_equal(ours, reference, atol):
    (train, test, extra), (ref_train, ref_test, ref_extra) = ours, reference
    np.testing.assert_allclose(train, ref_train, atol=atol, err_msg="training scores")
    np.testing.assert_allclose(test, ref_test, atol=atol, err_msg="held-out scores")
    assert extra.keys() == ref_extra.keys()
    if "alpha" in extra:
        np.testing.assert_array_equal(extra["alpha"], ref_extra["alpha"], err_msg="chosen alphas")


@pytest.fixture
def strict_float32():
    """cuDNN convolutions and CUDA matmuls in full float32 (no TF32) for this test, restored after it
    (``torch.backends.cuda.matmul`` has no attribute monkeypatch could put back)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# ---------------------------------------------------------------------------------------------------- extraction

@pytest.mark.parametrize("reduce", [None, "srp:20", "pca:3/20"], ids=["raw", "srp", "pca"])
def test_conv_net_features_equal_the_cpu_in_float32(strict_float32, reduce):
    stimuli = tiny_stimulus_set(n=24)
    layers = LAYERS if reduce is None else ["conv1", "conv2"]
    cpu = extracted(brainbench.wrap(ConvNet(), to_tensor, name="conv"), stimuli, layers, "cpu", reduce=reduce, seed=3)
    ours = extracted(brainbench.wrap(ConvNet(), to_tensor, name="conv"), stimuli, layers, DEVICE, reduce=reduce, seed=3)
    assert_features_close(ours, cpu, rel=1e-3 if reduce and reduce.startswith("pca") else 1e-4)  # PCA refits on them
    manual = ConvNet().eval()
    x = torch.stack([to_tensor(stimuli.image(s)) for s in stimuli.ids])
    if reduce is None:  # the CPU reference itself: the module's own forward pass
        with torch.inference_mode():
            np.testing.assert_allclose(cpu["fc"], manual(x).double().numpy(), atol=1e-5)


def test_conv_net_features_with_cudnn_defaults_stay_close():
    """With TF32 allowed (PyTorch's default for cuDNN convolutions on Ampere and later), within 1% of each layer's scale."""
    stimuli = tiny_stimulus_set(n=16)
    cpu = extracted(brainbench.wrap(ConvNet(), to_tensor, name="conv"), stimuli, LAYERS, "cpu")
    ours = extracted(brainbench.wrap(ConvNet(), to_tensor, name="conv"), stimuli, LAYERS, DEVICE)
    assert_features_close(ours, cpu, rel=1e-2)


@pytest.mark.parametrize("precision", ["float32", "cudnn-default"])
def test_efficientnet_lite0_real_weights_equal_the_cpu(precision, request):
    import skimage.data

    if precision == "float32":
        request.getfixturevalue("strict_float32")
    stimuli = brainbench.StimulusSet.from_arrays([skimage.data.coffee(), skimage.data.rocket(), skimage.data.astronaut()],
                                                 ["coffee", "rocket", "astronaut"])
    layers = ["_blocks.0", "_blocks.8", "_fc"]
    cpu = extracted(brainbench.get_model("efficientnet_lite0"), stimuli, layers, "cpu")
    ours = extracted(brainbench.get_model("efficientnet_lite0"), stimuli, layers, DEVICE)
    assert cpu["_fc"].argmax(1)[:2].tolist() == ours["_fc"].argmax(1)[:2].tolist() == [967, 657]  # espresso, rocket
    assert_features_close(ours, cpu, rel=1e-3 if precision == "float32" else 3e-2)


class Noisy(nn.Module):
    """Adds fresh Gaussian noise, drawn on the input's device, on every call."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.flat = nn.Flatten()

    def forward(self, x):
        return self.flat(self.conv(x) + torch.randn_like(self.conv(x)))


def test_seeded_extraction_repeats_and_keeps_the_callers_generator():
    stimuli = tiny_stimulus_set(n=6)
    model = brainbench.wrap(Noisy(), to_tensor, name="noisy")
    state = (torch.cuda.get_rng_state() if DEVICE.startswith("cuda") else torch.get_rng_state()).clone()
    first = extracted(model, stimuli, ["flat"], DEVICE, seed=7)["flat"]
    again = extracted(model, stimuli, ["flat"], DEVICE, seed=7)["flat"]
    other = extracted(model, stimuli, ["flat"], DEVICE, seed=8)["flat"]
    after = torch.cuda.get_rng_state() if DEVICE.startswith("cuda") else torch.get_rng_state()
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.5  # unit-variance noise: another seed, other draws
    assert torch.equal(state, after)  # the caller's generator is where it was
    noise = first - extracted(brainbench.wrap(nn.Sequential(model.module.conv, nn.Flatten()), to_tensor, name="plain"),
                              stimuli, ["1"], DEVICE)["1"]
    assert 0.8 < noise.std() < 1.2  # the noise drawn is standard normal


def test_feature_statistics_equal_the_cpu():
    rng = np.random.default_rng(5)
    X = np.maximum(rng.standard_normal((200, 300)) @ rng.standard_normal((300, 300)) * 0.1, 0).astype(np.float32)
    ours, cpu = feature_statistics(X, device=DEVICE), feature_statistics(X, device="cpu")
    centred = X.astype(np.float64) - X.mean(0)
    eig = np.linalg.eigvalsh(np.cov(centred.T))
    assert cpu["effective_dimensionality"] == pytest.approx(eig.sum() ** 2 / (eig**2).sum(), rel=1e-4)
    assert ours["effective_dimensionality"] == pytest.approx(cpu["effective_dimensionality"], rel=1e-4)
    assert ours["sparsity"] == cpu["sparsity"] == pytest.approx((X == 0).mean())
    assert ours["n_features"] == cpu["n_features"] == 300


# ---------------------------------------------------------------------------------------------------- batch cap, OOM

def wide_net():
    """Elementwise layers only (no cuDNN workspace): tile the 3 x 128 x 128 input 16 times, ReLU, tanh, pool.
    About 3 MB of activations per stimulus per layer, so a few dozen stimuli take a known amount of memory."""

    class Tile(nn.Module):
        def forward(self, x):
            return x.repeat(1, 16, 1, 1)

    net = nn.Sequential(Tile(), nn.ReLU(), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return brainbench.wrap(net, lambda img: to_tensor(img, 128) - 0.5, name="wide")


def test_the_batch_is_capped_by_a_small_free_memory_reading(monkeypatch):
    from brainbench.extraction import plan as extraction

    model, stimuli = wide_net(), tiny_stimulus_set(n=40)
    free = plan_extraction(model, stimuli, ["4"], memory_limit="8GB", device=DEVICE, cache=False)
    forward = free.forward_bytes_per_stimulus
    fake = 10 * forward
    monkeypatch.setattr(extraction, "device_free_memory", lambda device: fake)  # as a nearly full GPU would say
    capped = plan_extraction(model, stimuli, ["4"], memory_limit="8GB", device=DEVICE, cache=False)
    assert capped.batch_sizes == [int(fake * 0.95) // forward] == [9]
    assert free.batch_sizes == [40]  # the whole set fits the host budget and (on a GPU) its real free memory
    assert capped.device_free == fake and f"{DEVICE}, " in capped.summary()
    cpu = extracted(wide_net(), stimuli, ["4"], "cpu")
    np.testing.assert_allclose(extracted(model, stimuli, ["4"], DEVICE)["4"], cpu["4"], atol=1e-5)  # capped batches


@needs_cuda
def test_the_real_free_memory_reading_counts_the_caching_allocators_spare_memory():
    torch.cuda.empty_cache()
    free_driver, _ = torch.cuda.mem_get_info(0)
    block = torch.empty(2**28, dtype=torch.uint8, device="cuda")  # 256 MiB held by a tensor
    held = device_free_memory("cuda")
    del block  # back to torch's cache, not the driver: still free for brainbench's tensors
    spare = device_free_memory("cuda:0")
    assert abs((spare - held) - 2**28) < 2**21
    assert abs(spare - free_driver) < 2**26  # within 64 MiB of the driver's reading before (other processes aside)


def hog(leave: int) -> torch.Tensor:
    """A tensor taking all of the device's free memory but ``leave`` bytes (a GPU mostly used by something else)."""
    torch.cuda.empty_cache()
    free = device_free_memory("cuda")
    return torch.empty(max(free - leave, 0), dtype=torch.uint8, device="cuda")


@needs_cuda
def test_a_nearly_full_gpu_gets_small_batches_with_the_same_features():
    model, stimuli = wide_net(), tiny_stimulus_set(n=40)
    forward = plan_extraction(model, stimuli, ["4"], memory_limit="8GB", device="cuda", cache=False).forward_bytes_per_stimulus
    cpu = extracted(wide_net(), stimuli, ["4"], "cpu")
    held = hog(12 * forward)
    try:
        plan = plan_extraction(model, stimuli, ["4"], memory_limit="8GB", device="cuda", cache=False)
        assert 6 <= plan.batch_sizes[0] <= 12 < MAX_BATCH  # the real reading: about 12 stimuli's worth left
        assert plan.batch_sizes == [plan.device_budget // forward]  # the one place the headroom is applied
        np.testing.assert_allclose(extracted(model, stimuli, ["4"], "cuda")["4"], cpu["4"], atol=1e-5)
    finally:
        del held
        torch.cuda.empty_cache()


@needs_cuda
def test_a_real_out_of_memory_error_names_the_batch_size_and_a_smaller_batch_recovers():
    model, stimuli = wide_net(), tiny_stimulus_set(n=64)
    forward = plan_extraction(model, stimuli, ["4"], memory_limit="8GB", device="cuda", cache=False).forward_bytes_per_stimulus
    cpu = extracted(wide_net(), stimuli, ["4"], "cpu")
    held = hog(8 * forward)
    try:
        with pytest.raises(MemoryBudgetError, match=r"cuda ran out of memory on a batch of 64 stimuli through wide "
                                                     r"\(stimuli .*\); pass a smaller --batch-size") as caught:
            extracted(model, stimuli, ["4"], "cuda", batch_size=64)
        assert isinstance(caught.value.__cause__, torch.cuda.OutOfMemoryError)  # a real one, from the allocator
        caught = None  # the traceback holds the failed batch's tensors
        gc.collect()
        recovered = extracted(model, stimuli, ["4"], "cuda")  # the batch size chosen from the free memory
        np.testing.assert_allclose(recovered["4"], cpu["4"], atol=1e-5)
    finally:
        del held
        gc.collect()
        torch.cuda.empty_cache()


@needs_cuda
def test_pick_device_takes_cuda_and_refuses_a_gpu_that_does_not_exist():
    from brainbench.device import pick_device

    count = torch.cuda.device_count()
    assert pick_device(None) == pick_device("auto") == "cuda"
    assert pick_device("cuda:0") == "cuda:0" and pick_device(f"cuda:{count - 1}") == f"cuda:{count - 1}"
    with pytest.raises(ConfigError, match=rf"'cuda:{count}' does not exist: this machine has {count} GPU"):
        pick_device(f"cuda:{count}")
    stimuli = tiny_stimulus_set(n=4)
    np.testing.assert_allclose(extracted(brainbench.wrap(ConvNet(), to_tensor, name="c"), stimuli, ["fc"], "cuda:0")["fc"],
                               extracted(brainbench.wrap(ConvNet(), to_tensor, name="c"), stimuli, ["fc"], "cpu")["fc"],
                               atol=1e-3)


# ---------------------------------------------------------------------------------------------------- RDMs, RSA

@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_every_rdm_distance_equals_the_cpu(distance, chunked, monkeypatch):
    from brainbench.rdm import distances as rdm_module

    X = np.random.default_rng(3).normal(2.0, 1.0, (30, 101)).astype(np.float32)
    if chunked:
        monkeypatch.setattr(rdm_module, "CHUNK_BYTES", 8 * 30 * 7)  # 7 features at a time, the last chunk shorter
    cpu, ours = dissimilarity(X, distance, device="cpu"), dissimilarity(X, distance, device=DEVICE)
    np.testing.assert_allclose(cpu, squareform(pdist(X.astype(np.float64), distance)), atol=1e-9)
    np.testing.assert_allclose(ours, cpu, atol=1e-10)


@pytest.mark.parametrize("noise", [False, True], ids=["identity", "estimated-noise"])
def test_crossnobis_equals_the_cpu(noise):
    rng = np.random.default_rng(4)
    by_rep = rng.normal(size=(12, 15)) + rng.normal(0, 0.7, (4, 12, 15))
    precision = noise_precision(by_rep) if noise else None
    cpu, ours = crossnobis(by_rep, precision, device="cpu"), crossnobis(by_rep, precision, device=DEVICE)
    diffs = by_rep[:, :, None] - by_rep[:, None, :]  # the definition: mean over run pairs a != b of d_a^T P d_b / p
    P = np.eye(15) if precision is None else precision
    pairs = [np.einsum("ijk,kl,ijl->ij", diffs[a], P, diffs[b]) for a in range(4) for b in range(4) if a != b]
    np.testing.assert_allclose(cpu, np.mean(pairs, 0) / 15, atol=1e-10)
    np.testing.assert_allclose(ours, cpu, atol=1e-10)


@pytest.mark.parametrize("comparison", ["spearman", "pearson", "cosine", "rho_a", "tau_a"])
def test_rsa_and_crsa_equal_the_cpu(comparison):
    from brainbench.plugins.metrics.deepjuice import CRSA
    from brainbench.plugins.metrics.rsa import RSA

    _, _, features, target = encoding_problem(seed=1)
    rdms = rdms_of_responses(target)
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=2, test_size=0.5, seed=0), 60)
    for metric in (lambda device: RSA(comparison=comparison, device=device), CRSA):
        ours, cpu = metric(DEVICE)(features, rdms, splits), metric("cpu")(features, rdms, splits)
        np.testing.assert_allclose(ours.test.values, cpu.test.values, atol=1e-10)
        np.testing.assert_allclose(ours.train.values, cpu.train.values, atol=1e-10)
        if comparison != "spearman":
            break  # CRSA's comparison is fixed (pearson): once is enough


# ---------------------------------------------------------------------------------------------------- encoding

@pytest.mark.parametrize("cv", ["loo", 5], ids=["loo", "5-fold"])
def test_ridge_chooses_the_same_alphas_with_the_same_scores(cv):
    from brainbench.plugins.metrics.ridge import RidgeEncoding

    _, _, features, target = encoding_problem(n=90, p=200, q=12, seed=2)
    splits = make_splits(SplitSpec(kind="kfold", n_splits=3, seed=0), 90)
    cpu = scored(RidgeEncoding, features, target, splits, "cpu", cv=cv)
    assert_scores_equal(scored(RidgeEncoding, features, target, splits, DEVICE, cv=cv), cpu, atol=1e-8)
    train32, test32, _ = scored(RidgeEncoding, features, target, splits, DEVICE, cv=cv, dtype="float32")
    np.testing.assert_allclose(test32, cpu[1], atol=5e-3)
    np.testing.assert_allclose(train32, cpu[0], atol=5e-3)


def test_ereg_and_ersa_choose_the_same_alphas_with_the_same_scores():
    from brainbench.plugins.metrics.deepjuice import EncodingRegression, EncodingRSA

    _, _, features, target = encoding_problem()
    splits = make_splits(SplitSpec(kind="even_odd"), 60)
    cpu = scored(EncodingRegression, features, target, splits, "cpu")
    assert_scores_equal(scored(EncodingRegression, features, target, splits, DEVICE), cpu, atol=1e-5)
    _, test32, _ = scored(EncodingRegression, features, target, splits, DEVICE, dtype="float32")
    np.testing.assert_allclose(test32, cpu[1], atol=5e-3)
    ersa = [EncodingRSA(device=device)(features, target, splits) for device in ("cpu", DEVICE)]
    np.testing.assert_allclose(ersa[1].test.values, ersa[0].test.values, atol=1e-5)


@pytest.mark.parametrize("name", ["pls", "linear", "bs_ridge", "bs_ridgecv"])
def test_brainscore_regressions_equal_the_cpu(name):
    from brainbench.plugins.metrics.brainscore import CrossRegressedCorrelation

    _, _, features, target = encoding_problem(n=80, p=60, q=10, seed=3)
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=3, test_size=0.2, seed=1), 80)
    metric = lambda device: CrossRegressedCorrelation(name, device=device)  # noqa: E731
    ours, cpu = metric(DEVICE)(features, target, splits), metric("cpu")(features, target, splits)
    np.testing.assert_allclose(ours.test.values, cpu.test.values, atol=1e-6)


@pytest.mark.parametrize("unbiased", [True, False], ids=["unbiased", "biased"])
def test_cka_equals_the_cpu(unbiased):
    from brainbench.plugins.metrics.brainscore import CKA

    _, _, features, target = encoding_problem(n=50, p=40, seed=4)
    splits = make_splits(SplitSpec(kind="shuffle", n_splits=2, test_size=0.4, seed=2), 50)
    ours, cpu = (CKA(unbiased=unbiased, device=d)(features, target, splits) for d in (DEVICE, "cpu"))
    np.testing.assert_allclose(ours.test.values, cpu.test.values, atol=1e-10)
    np.testing.assert_allclose(ours.train.values, cpu.train.values, atol=1e-10)


@pytest.mark.parametrize(("n", "p_noise"), [(90, 20), (60, 200)], ids=["primal", "kernel"])
def test_banded_ridge_on_torch_cuda_equals_numpy(n, p_noise):
    pytest.importorskip("himalaya")
    from himalaya.backend import get_backend

    from brainbench.plugins.metrics.banded import BandedRidge

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(n)]
    a, b = rng.standard_normal((n, 8)), 3 * rng.standard_normal((n, p_noise))
    Y = a @ rng.standard_normal((8, 6)) + 2 * rng.standard_normal((n, 6))
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{i}" for i in range(6)], region="r", subject="x")
    features = combine_layers([feature_assembly(a, ids, "a"), feature_assembly(b, ids, "b")])
    splits = make_splits(SplitSpec(kind="kfold", n_splits=3, seed=0), n)
    before = get_backend().name
    ours = scored(BandedRidge, features, target, splits, DEVICE, n_iter=10, seed=3)
    assert get_backend().name == before  # the backend is put back
    cpu = scored(BandedRidge, features, target, splits, "cpu", n_iter=10, seed=3)
    np.testing.assert_allclose(ours[1], cpu[1], atol=1e-6)
    np.testing.assert_allclose(ours[0], cpu[0], atol=1e-6)
    np.testing.assert_allclose(ours[2]["alpha"], cpu[2]["alpha"], rtol=1e-6)
    np.testing.assert_allclose(ours[2]["share:a"], cpu[2]["share:a"], atol=1e-6)


def test_feature_visualisation_follows_the_cpu():
    # the same seeded run (image start and transforms drawn on the CPU generator) on the device and on the CPU; the
    # readout fit too. Adam amplifies rounding over steps, so the images agree closely, not bit for bit
    from brainbench.interpret.visualize import Channel, Voxel, fit_readout, visualize

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.Conv2d(4, 6, 3))
    model = brainbench.wrap(net, lambda img: (to_tensor(img) - 0.5) / 0.25, name="vis", input_size=32)
    runs = [visualize(model, Channel("2", 1), steps=16, size=32, seed=1, device=d) for d in (DEVICE, "cpu")]
    assert np.corrcoef(runs[0].image.ravel(), runs[1].image.ravel())[0, 1] > 0.99
    np.testing.assert_allclose(runs[0].curve, runs[1].curve, rtol=1e-2, atol=1e-3)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 30)), rng.standard_normal(60)
    fits = [fit_readout(X, y, device=d) for d in (DEVICE, "cpu")]
    np.testing.assert_allclose(fits[0].weights, fits[1].weights, rtol=1e-6, atol=1e-9)
    assert fits[0].alpha == pytest.approx(fits[1].alpha)
    voxel = visualize(model, Voxel("2", fit_readout(rng.standard_normal((20, 6 * 26 * 26)), y[:20])), steps=4,
                      size=32, device=DEVICE)
    assert voxel.after > voxel.before


def test_fastfood_projection_and_its_gradient_follow_the_cpu():
    # the same P (drawn on the CPU generator) on the device: P z and the gradient through it agree
    from brainbench.tuning.fastfood import FastfoodProjection, LowDimensional

    projection = FastfoodProjection(300, 50_000, seed=2)
    z = torch.randn(300, generator=torch.Generator().manual_seed(1))
    out = {}
    for d in (DEVICE, "cpu"):
        p = FastfoodProjection(300, 50_000, seed=2).to(d)
        zz = z.to(d).requires_grad_(True)
        (p(zz) ** 2).sum().backward()
        out[d] = (p(zz.detach()).cpu(), zz.grad.cpu())
    torch.testing.assert_close(out[DEVICE][0], out["cpu"][0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out[DEVICE][1], out["cpu"][1], rtol=1e-4, atol=1e-5)
    assert projection.D == 50_000
    net = ConvNet().to(DEVICE)
    low = LowDimensional(net, 64, seed=0)
    x = torch.randn(4, 3, 32, 32, device=DEVICE)
    torch.testing.assert_close(low(x), net(x))  # z = 0: the parent's outputs
    low(x).sum().backward()
    assert low.z.grad is not None and low.z.grad.device.type == torch.device(DEVICE).type


def test_lwf_tuning_on_the_device_follows_the_cpu():
    # one epoch of LwF on the synthetic benchmark on the device and on the CPU: close held-out scores and records
    from brainbench.tuning.lwf import LwFConfig, tune_lwf
    from brainbench.tuning.train import TrainConfig

    parent = brainbench.get_model("synthetic_generator", weights="random", seed=1)
    config = LwFConfig(layer="block2", train=TrainConfig(epochs=1, batch_size=32, lr=1e-3, patience=None))
    runs = [tune_lwf(parent, "synthetic.late", config, device=d) for d in (DEVICE, "cpu")]
    assert runs[0].record["device"].startswith(DEVICE.split(":")[0])
    assert runs[0].record["held_out"]["score"] == pytest.approx(runs[1].record["held_out"]["score"], abs=5e-3)
    assert runs[0].record["held_out"]["parent_score"] == pytest.approx(runs[1].record["held_out"]["parent_score"],
                                                                       abs=1e-4)
