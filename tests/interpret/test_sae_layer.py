"""``<layer>:sae<K>``: a stored SAE's features as a layer of the model.

A tiny network whose layer ``mix`` is, at every position, a sparse combination (2 of 12) of a known overcomplete
dictionary of 8-d atoms: ``patch`` (a 2x2 stride-2 convolution) copies each 2x2x3 image patch to 12 channels, and
``mix`` (a 1x1 convolution) multiplies them by the dictionary. The SAE trained on ``mix`` (through the extraction
engine) recovers the atoms; ``mix:sae12`` extracted through the engine equals the SAE's encoder applied by hand (in
numpy) to ``mix``'s own output; a retrained SAE changes the activation-cache key; bad names and a missing SAE are
clear errors. End to end on real data: an SAE over efficientnet_lite0's ``_blocks.10`` trained on cowley2023.V4's
stimuli, then scored on cowley2023.V4 (the stored result names the layer as written) and II-measured.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import brainbench
from helpers.paths import SHARED_DATA
from brainbench.data.stimuli import StimulusSet
from brainbench.errors import ConfigError, DataFileError, UnknownNameError
from brainbench.extraction.plan import plan_extraction
from brainbench.extraction.sae_layer import find_sae, parse_sae_layer
from brainbench.interpret.sae import train_layer_sae

torch = pytest.importorskip("torch")

M, D = 12, 8  # dictionary atoms, their dimension


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """Each test its own data home: stored SAEs and cached activations do not leak between tests."""
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def dictionary():
    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(D, M))
    return atoms / np.linalg.norm(atoms, axis=0)


def _model(dictionary):
    net = torch.nn.Sequential()
    net.add_module("patch", torch.nn.Conv2d(3, M, 2, stride=2, bias=False))
    net.add_module("mix", torch.nn.Conv2d(M, D, 1, bias=False))
    with torch.no_grad():
        net.patch.weight.zero_()
        for i in range(M):  # channel i of a position = one value of its 2x2x3 patch
            colour, pixel = divmod(i, 4)
            net.patch.weight[i, colour, pixel // 2, pixel % 2] = 1
        net.mix.weight.copy_(torch.tensor(dictionary, dtype=torch.float32)[:, :, None, None])

    def preprocess(image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)

    return brainbench.wrap(net, preprocess, name="sparse-net")


@pytest.fixture(scope="module")
def stimuli():
    """64 8x8 images: at each of the 4x4 positions, 2 of the patch's 12 values are on (80..255), the rest 0."""
    rng = np.random.default_rng(1)
    images = []
    for _ in range(64):
        image = np.zeros((8, 8, 3), np.uint8)
        for y in range(4):
            for x in range(4):
                for i in rng.choice(M, 2, replace=False):
                    colour, pixel = divmod(i, 4)
                    image[2 * y + pixel // 2, 2 * x + pixel % 2, colour] = rng.integers(80, 256)
        images.append(image)
    return StimulusSet.from_arrays(images, ids=[f"{i:03d}" for i in range(64)])


def _mix_by_hand(model, stimuli):
    """``mix``'s output (n, 8, 4, 4) from the network's own forward pass, without the extraction engine."""
    batch = torch.stack([model.preprocess(stimuli.image(s)) for s in stimuli.ids])
    with torch.no_grad():
        return model.module(batch).numpy().astype(np.float64)


def _encode_by_hand(sae, x):
    """The stored SAE's top-k codes of vectors ``x`` (n, d), in numpy: ReLU(W_enc (x - b_dec) + b_enc), all but the
    k largest of each row zeroed."""
    from safetensors.numpy import load_file

    w = load_file(str(sae.folder / "weights.safetensors"))
    pre = np.maximum((x - w["b_dec"]) @ w["W_enc"].T.astype(np.float64) + w["b_enc"], 0)
    out = np.zeros_like(pre)
    top = np.argsort(-pre, axis=1, kind="stable")[:, :sae.card["active"]]
    np.put_along_axis(out, top, np.take_along_axis(pre, top, axis=1), axis=1)
    return out


def test_sae_layer_features_are_the_stored_encoder_applied_to_the_base_layer(dictionary, stimuli):
    model = _model(dictionary)
    sae, reused = train_layer_sae(model, stimuli, "mix", M, 2, steps=1500, seed=0)
    assert not reused and sae.name == "mix:sae12" and sae.card["n_vectors"] == 64 * 16  # every position, under max
    decoder = _load(sae)["W_dec"]
    assert np.abs(decoder.T @ dictionary).max(0).mean() >= 0.9  # the known dictionary recovered (0.97 measured)
    assert sae.card["dead"] == 0 and sae.card["r2"] > 0.9 and sae.card["l0"] == pytest.approx(2.0)
    features = model.extract(stimuli, ["mix", "mix:sae12"], progress=False)  # base and SAE layer in one pass
    mix = _mix_by_hand(model, stimuli)  # (64, 8, 4, 4)
    np.testing.assert_allclose(features["mix"].values, mix.reshape(64, -1), rtol=1e-5, atol=1e-6)
    positions = mix.transpose(0, 2, 3, 1).reshape(-1, D)  # each position's channel vector
    codes = _encode_by_hand(sae, positions).reshape(64, 4, 4, M).transpose(0, 3, 1, 2)  # (64, K, 4, 4)
    got = features["mix:sae12"]
    assert got.shape == (64, M * 16) and list(got["stimulus_id"].values[:2]) == ["000", "001"]
    np.testing.assert_allclose(got.values, codes.reshape(64, -1), rtol=1e-4, atol=1e-5)
    assert (got.values.reshape(64, M, 16) > 0).sum(1).max() <= 2  # at most k active per position
    assert json.loads(got.attrs["sae"])["weights_sha256"] == sae.card["weights_sha256"]
    rows = {r["layer"]: r for r in features.plan.rows()}
    assert rows["mix:sae12"]["shape"] == "12x4x4" and rows["mix:sae12"]["type"] == "SAE over Conv2d"


def test_mean_readout_encodes_each_stimulus_spatial_mean(dictionary, stimuli):
    model = _model(dictionary)
    sae, _ = train_layer_sae(model, stimuli, "mix", 6, 3, steps=200, seed=1, readout="mean")
    got = model.extract(stimuli, ["mix:sae6"], progress=False, cache=False)["mix:sae6"]
    means = _mix_by_hand(model, stimuli).mean(axis=(2, 3))
    assert sae.card["n_vectors"] == 64 and got.shape == (64, 6)
    np.testing.assert_allclose(got.values, _encode_by_hand(sae, means), rtol=1e-4, atol=1e-5)


def test_a_retrained_sae_changes_the_cache_key_and_never_reuses_stale_features(dictionary, stimuli):
    model = _model(dictionary)
    train_layer_sae(model, stimuli, "mix", M, 2, steps=100, seed=0)
    plain_key = plan_extraction(model, stimuli, ["mix"]).layers[0].key
    first = plan_extraction(model, stimuli, ["mix:sae12"])
    old = model.extract(stimuli, ["mix:sae12"], progress=False)["mix:sae12"].values.copy()
    again, reused = train_layer_sae(model, stimuli, "mix", M, 2, steps=100, seed=0)
    assert reused and plan_extraction(model, stimuli, ["mix:sae12"]).layers[0].cached  # same settings: reused
    with pytest.raises(ConfigError, match=r"already stored .*seed: 0, now 7.*--overwrite"):
        train_layer_sae(model, stimuli, "mix", M, 2, steps=100, seed=7)
    new, reused = train_layer_sae(model, stimuli, "mix", M, 2, steps=100, seed=7, overwrite=True)
    assert not reused and new.card["weights_sha256"] != again.card["weights_sha256"]
    second = plan_extraction(model, stimuli, ["mix:sae12"])
    assert second.layers[0].key != first.layers[0].key and not second.layers[0].cached
    assert plan_extraction(model, stimuli, ["mix"]).layers[0].key == plain_key  # a plain layer's key is untouched
    fresh = model.extract(stimuli, ["mix:sae12"], progress=False)["mix:sae12"].values
    positions = _mix_by_hand(model, stimuli).transpose(0, 2, 3, 1).reshape(-1, D)
    expected = _encode_by_hand(new, positions).reshape(64, 4, 4, M).transpose(0, 3, 1, 2).reshape(64, -1)
    np.testing.assert_allclose(fresh, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(fresh, old)


def test_bad_sae_layer_names_and_a_missing_sae_are_clear_errors(dictionary, stimuli):
    model = _model(dictionary)
    assert parse_sae_layer("mix") is None and parse_sae_layer("layer1.0:sae64") == ("layer1.0", 64)
    for bad in ("mix:saeX", "mix:sae0", "mix:sae"):
        with pytest.raises(ConfigError, match="must be the SAE's number of features"):
            plan_extraction(model, stimuli, [bad])
    with pytest.raises(ConfigError, match="must name one layer"):
        plan_extraction(model, stimuli, ["mi*:sae12"])
    with pytest.raises(ConfigError, match=r"no SAE of 7 features over layer 'mix' of sparse-net is stored .*"
                                          r"brainbench sae train -m sparse-net --layer mix --features 7"):
        plan_extraction(model, stimuli, ["mix:sae7"])
    with pytest.raises(UnknownNameError, match="mixx.*mix"):  # an unknown base layer: the close-match error
        plan_extraction(model, stimuli, ["mixx:sae12"])
    train_layer_sae(model, stimuli, "mix", M, 2, steps=20, seed=0)
    with pytest.raises(ConfigError, match=r"stored for this layer: mix:sae12"):
        find_sae("sparse-net", "mix", 7)
    plan_extraction(model, stimuli, ["mix:sae12"])
    weights = find_sae("sparse-net", "mix", 12).folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")  # the file changed behind its card's back
    with pytest.raises(DataFileError, match="do not match their card's sha256.*--overwrite"):
        plan_extraction(model, stimuli, ["mix:sae12"])
    _, reused = train_layer_sae(model, stimuli, "mix", M, 2, steps=20, seed=0)
    assert not reused and plan_extraction(model, stimuli, ["mix:sae12"]).layers[0].name == "mix:sae12"  # replaced
    with torch.no_grad():
        model.module.mix.weight.mul_(2)  # other weights: the SAE no longer fits them
    with pytest.raises(ConfigError, match="trained on weights with hash .* --overwrite"):
        plan_extraction(model, stimuli, ["mix:sae12"])
    with pytest.raises(ConfigError, match="readout 'centre' is not one of positions, mean"):
        train_layer_sae(model, stimuli, "mix", M, 2, readout="centre")
    with pytest.raises(ConfigError, match="is an SAE layer"):
        train_layer_sae(model, stimuli, "mix:sae12", M, 2)


def test_the_sae_cli_trains_reuses_and_lists(dictionary, stimuli, tmp_path, monkeypatch):
    from PIL import Image

    from brainbench.cli.commands import main

    folder = tmp_path / "probe"
    folder.mkdir()
    for s in stimuli.ids[:32]:
        Image.fromarray(np.asarray(stimuli.image(s))).save(folder / f"{s}.png")
    model = _model(dictionary)
    monkeypatch.setattr("brainbench.registry.entries.get_model", lambda name, **_: model)
    args = ["sae", "train", "-m", "sparse-net", "--layer", "mix", "--probe", str(folder), "--features", "12",
            "--active", "2", "--steps", "300", "-q"]
    first = CliRunner().invoke(main, [*args, "--json"])
    assert first.exit_code == 0, first.output
    card = json.loads(first.output)
    assert not card["reused"] and card["name"] == "mix:sae12" and card["probe"]["n_stimuli"] == 32
    stored = find_sae("sparse-net", "mix", 12).card
    assert all(card[key] == stored[key] for key in ("dead", "r2", "l0", "weights_sha256"))
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "reused" in again.output
    assert f"dead features {stored['dead']}, R² {stored['r2']:.4f}, L0 {stored['l0']:.2f}" in again.output
    refused = CliRunner().invoke(main, [*args, "--seed", "3"])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    listed = CliRunner().invoke(main, ["sae", "list", "--json"])
    assert [(s["model"], s["name"], s["seed"]) for s in json.loads(listed.output)] == [("sparse-net", "mix:sae12", 0)]


def _load(sae):
    from safetensors.numpy import load_file

    return load_file(str(sae.folder / "weights.safetensors"))



@pytest.mark.skipif(not (SHARED_DATA / "cowley2023_v4").is_dir(), reason="needs the real data in ../shared/data")
def test_end_to_end_an_sae_layer_of_efficientnet_lite0_scored_on_cowley2023_and_ii_measured(tmp_path):
    from brainbench.interpret.measure import measure_interpretability
    from brainbench.registry.catalog import get_benchmark
    from brainbench.registry.entries import get_dataset, get_model
    from brainbench.results.store import ResultsStore

    from brainbench.cli.stimuli import probe_stimuli

    model = get_model("efficientnet_lite0")
    stimuli = get_dataset(get_benchmark("cowley2023.V4").dataset).stimulus_set()
    assert probe_stimuli(("cowley2023.V4",)).ids == stimuli.ids  # sae train --probe BENCHMARK: its stimuli
    with pytest.raises(UnknownNameError, match="cowley2023"):
        probe_stimuli(("cowley2032",))
    probe = stimuli.subset(stimuli.ids[:48])
    sae, _ = train_layer_sae(model, probe, "_blocks.5", 8, 2, steps=150, seed=0, max_vectors=4000)
    card = find_sae("efficientnet_lite0", "_blocks.5", 8).card
    assert card["n_vectors"] == 4000 and card["dimensions"] == 80 and card["probe"]["n_stimuli"] == 48
    assert 0 <= card["dead"] < 8 and 0 < card["r2"] <= 1 and card["l0"] <= 2  # reported on the card
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    result = brainbench.score(model, "cowley2023.V4", layers=["_blocks.5:sae8"], progress=False, store=store)
    assert result.layer == "_blocks.5:sae8" and np.isfinite(result.raw)
    rows = store.rows("efficientnet_lite0", "cowley2023.V4")
    assert [row["layer"] for row in rows] == ["_blocks.5:sae8"]
    assert store.get(rows[0]["id"]).provenance.code == result.provenance.code
    assert json.loads(result.provenance.code["sae _blocks.5:sae8"])["weights_sha256"] == sae.card["weights_sha256"]
    measured = measure_interpretability(model, probe, "_blocks.5:sae8", k=3, distance="efficientnet_lite0-perceptual",
                                        image_size=32, baseline_sets=10, n_units=4, seed=0)
    assert measured.top.layer == "_blocks.5:sae8" and measured.ii.shape == (4,) and np.isfinite(measured.ii).all()
    assert np.isfinite(measured.baseline.mean) and measured.baseline.values.size == 10
    np.testing.assert_allclose(measured.ii, 1 - measured.mean_distance)
