"""Learning without Forgetting on the synthetic benchmark (a seeded random generator network tuned toward
synthetic.late): a large lambda keeps the outputs at the parent's, lambda 0 drifts from them; lambda 0 trains only
what the neural loss reaches; the parent is never changed; the record names the exact stimuli and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainbench
from brainbench.errors import ConfigError, UnknownNameError
from brainbench.tuning.lwf import LwFConfig, tune_lwf
from brainbench.tuning.train import TrainConfig


def _parent():
    return brainbench.get_model("synthetic_generator", weights="random", seed=1)


def _config(**changes):
    base = dict(layer="block2", train=TrainConfig(epochs=5, batch_size=32, lr=1e-2, patience=None, seed=0))
    return LwFConfig(**{**base, **changes})


def _softmax_outputs(model, stimuli_ids, data_stimuli):
    from brainbench.tuning.data import model_inputs

    with torch.no_grad():
        return torch.softmax(model.module(model_inputs(model, data_stimuli, stimuli_ids)), dim=1)


def test_a_large_lambda_keeps_the_parents_outputs_and_lambda_zero_drifts():
    parent = _parent()
    before = parent.weights_hash()
    settings = TrainConfig(epochs=8, batch_size=32, lr=1e-3, patience=None, seed=0)
    kept = tune_lwf(parent, "synthetic.late", _config(lambda_=100.0, train=settings))
    free = tune_lwf(parent, "synthetic.late", _config(lambda_=0.0, train=settings))
    assert parent.weights_hash() == before  # the parent is never changed
    stimuli = brainbench.get_dataset("synthetic").stimulus_set()
    test_ids = kept.record["stimulus_ids"]["test"]
    p0 = _softmax_outputs(parent, test_ids, stimuli)
    drift_kept = float((_softmax_outputs(kept.model, test_ids, stimuli) - p0).abs().max())
    drift_free = float((_softmax_outputs(free.model, test_ids, stimuli) - p0).abs().max())
    # the stated tolerance: every class probability within 0.01 of the parent's (measured 0.005; lambda 0: 0.020)
    assert drift_kept < 0.01 and drift_free > 2 * drift_kept, (drift_kept, drift_free)
    assert kept.record["held_out"]["kl_from_parent"] < free.record["held_out"]["kl_from_parent"] / 3
    assert free.record["held_out"]["score"] > free.record["held_out"]["parent_score"]  # tuning toward the region helps


def test_lambda_zero_trains_only_what_the_neural_loss_reaches_and_is_reproducible():
    parent = _parent()
    first = tune_lwf(parent, "synthetic.late", _config(lambda_=0.0, train=TrainConfig(epochs=2, lr=1e-3, seed=4, keep="last")))
    again = tune_lwf(parent, "synthetic.late", _config(lambda_=0.0, train=TrainConfig(epochs=2, lr=1e-3, seed=4, keep="last")))
    trained = first.record["trained_parameters"]
    assert trained == ["block1.0.bias", "block1.0.weight", "block2.0.bias", "block2.0.weight"]
    old, new = parent.module.state_dict(), first.model.module.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old if not k.startswith(("block1", "block2")))
    assert not torch.equal(old["block2.0.weight"], new["block2.0.weight"])
    assert all(torch.equal(new[k], v) for k, v in again.model.module.state_dict().items())
    ids = first.record["stimulus_ids"]
    assert not set(ids["train"]) & set(ids["val"]) and not set(ids["train"]) & set(ids["test"])
    assert len(ids["train"]) + len(ids["val"]) + len(ids["test"]) == 300 and len(ids["val"]) == 24
    assert first.record["parent"] == "synthetic_generator" and first.record["parent_weights"] == "random"
    assert len(first.record["curves"]["train_loss"]) == 2 and first.record["config"]["lambda_"] == 0.0
    with pytest.raises(ConfigError, match="so the score would measure what it learnt, not what it predicts"):
        brainbench.score(first.model, "synthetic.late", layers=["block2"], progress=False)  # tuned on its stimuli


def test_with_the_head_frozen_lwf_trains_what_lambda_zero_trains_and_leaves_the_head_as_it_was():
    parent = _parent()
    settings = TrainConfig(epochs=2, lr=1e-3, seed=4, keep="last")
    frozen = tune_lwf(parent, "synthetic.late", _config(lambda_=1.0, head="frozen", train=settings))
    trained = tune_lwf(parent, "synthetic.late", _config(lambda_=1.0, train=settings))  # head "train", the default
    reached = ["block1.0.bias", "block1.0.weight", "block2.0.bias", "block2.0.weight"]
    assert frozen.record["trained_parameters"] == reached and frozen.record["config"]["head"] == "frozen"
    assert set(trained.record["trained_parameters"]) > set(reached)  # the layers after block2 train too
    old = parent.module.state_dict()
    after_frozen, after_trained = frozen.model.module.state_dict(), trained.model.module.state_dict()
    head = [k for k in old if not k.startswith(("block1", "block2"))]
    assert head and all(torch.equal(old[k], after_frozen[k]) for k in head)
    assert any(not torch.equal(old[k], after_trained[k]) for k in head)
    with pytest.raises(ConfigError, match="head 'free' is not one of train, frozen"):
        _config(head="free")


def test_bad_settings_are_refused_before_training():
    with pytest.raises(ConfigError, match="lambda must be a number >= 0"):
        _config(lambda_=-1.0)
    with pytest.raises(ConfigError, match="neural loss 'mae' is not one of mse, pearson"):
        _config(neural="mae")
    with pytest.raises(UnknownNameError, match="block9"):
        tune_lwf(_parent(), "synthetic.late", _config(layer="block9"))
    with pytest.raises(ConfigError, match="split 7 does not exist: benchmark 'synthetic.late' has 5 splits"):
        tune_lwf(_parent(), "synthetic.late", _config(split=7))
    with pytest.raises(ConfigError, match="no parameter of the model matches"):
        tune_lwf(_parent(), "synthetic.late", _config(train_parameters=("conv*",)))


def test_the_registered_tuners_are_the_functions_with_a_flat_config():
    parent = _parent()
    tuned = brainbench.get_tuner("lwf").tune(parent, "synthetic.late", {"layer": "block2", "lambda_": 0.0,
                                                                         "epochs": 2, "lr": 1e-2, "seed": 4})
    direct = tune_lwf(parent, "synthetic.late", _config(lambda_=0.0, train=TrainConfig(epochs=2, lr=1e-2, seed=4)))
    assert all(torch.equal(v, direct.model.module.state_dict()[k]) for k, v in tuned.model.module.state_dict().items())
    assert tuned.record["config"] == direct.record["config"]
    with pytest.raises(ConfigError, match="unknown tuner setting\\(s\\) lamda; known: .*lambda_"):
        brainbench.get_tuner("lwf").tune(parent, "synthetic.late", {"layer": "block2", "lamda": 1.0})
    with pytest.raises(ConfigError, match="needs d"):
        brainbench.get_tuner("fastfood").tune(parent, "synthetic.late", {"layer": "block1"})
    with pytest.raises(ConfigError, match="pass its id"):
        brainbench.get_tuner("fastfood").tune(parent, brainbench.get_dataset("synthetic"), {"layer": "block1", "d": 4})


def test_a_benchmark_with_too_few_training_stimuli_for_a_validation_split_is_refused(plugin):
    class Tiny:
        @brainbench.hookimpl
        def register_benchmarks(self, register):
            register({"id": "synthetic.late-tiny", "dataset": "synthetic", "region": "late", "metric": "ridge",
                      "ceiling": "none", "version": "1",
                      "splits": {"kind": "shuffle", "n_splits": 1, "test_size": 0.985, "seed": 0}})

    plugin(Tiny(), "tiny-benchmark")
    with pytest.raises(ConfigError, match="split 0 of 'synthetic.late-tiny' has 4 training stimuli: too few to keep "
                                          "a validation part of 0.1 \\(0 stimuli\\)"):
        tune_lwf(_parent(), "synthetic.late-tiny", _config())
