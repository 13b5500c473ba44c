"""The extraction options are one typed object (brainbench.ExtractionOptions) from the CLI and the Python API down to
the extraction plan: its defaults are brainbench 0.1's, an unknown option is refused by name, and the CLI's flags
arrive as that object."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import brainbench
from brainbench import ConfigError, ExtractionOptions
from brainbench.cli.commands import main
from brainbench.extraction.reduction import ReductionSpec


def test_defaults_are_the_keyword_defaults_of_brainbench_0_1():
    """plan_extraction's keyword defaults before the object existed: tokens='all', reduce=None, memory_limit=None,
    batch_size=None, device=None, cache=True, seed=None (the model's)."""
    assert ExtractionOptions().__dict__ == {"tokens": "all", "reduce": None, "memory_limit": None, "batch_size": None,
                                            "device": None, "cache": True, "seed": None}
    assert ExtractionOptions.of() == ExtractionOptions()
    assert ExtractionOptions().keywords() == {}
    assert ExtractionOptions().reduction() is None and ExtractionOptions().memory_bytes() is None


def test_an_unknown_option_names_the_options_and_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown extraction option 'memory_limt'; did you mean 'memory_limit'\? The "
                                          r"options are tokens, reduce, memory_limit, batch_size, device, cache, seed"):
        ExtractionOptions.of(memory_limt="2GB")
    # through the public keyword API, before any benchmark or model is loaded
    with pytest.raises(ConfigError, match=r"unknown extraction option 'token'; did you mean 'tokens'"):
        brainbench.score("synthetic_generator", "no.such-benchmark", token="cls", progress=False)


def test_values_are_checked_when_the_object_is_made():
    with pytest.raises(ConfigError, match=r"token mode 'first' is not one of 'all', 'cls', 'mean'"):
        ExtractionOptions(tokens="first")
    with pytest.raises(ConfigError, match=r"batch size must be a whole number >= 1; got 0"):
        ExtractionOptions(batch_size=0)
    with pytest.raises(ConfigError, match=r"reduction 'srp' is not understood"):
        ExtractionOptions(reduce="srp")
    with pytest.raises(ConfigError, match=r"memory limit '4 parsecs' is not a size"):
        ExtractionOptions(memory_limit="4 parsecs")
    with pytest.raises(ConfigError, match=r"memory limit must be a size such as '4GB' or a number of bytes; got \[1\]"):
        ExtractionOptions(memory_limit=[1])
    with pytest.raises(ConfigError, match=r"cache must be True, False or a brainbench ActivationCache; got 'yes'"):
        ExtractionOptions(cache="yes")
    with pytest.raises(ConfigError, match=r"seed must be a whole number from 0 to 4294967295"):
        ExtractionOptions(seed=-1)
    with pytest.raises(ConfigError, match=r"options must be a brainbench.ExtractionOptions, not dict"):
        ExtractionOptions.of({"tokens": "cls"})


def test_keywords_replace_the_fields_of_an_options_object_and_none_means_the_default():
    base = ExtractionOptions(tokens="cls", memory_limit="2GB", seed=3)
    merged = ExtractionOptions.of(base, memory_limit="1GB", batch_size=None, reduce="pca:10/50")
    assert merged == ExtractionOptions(tokens="cls", memory_limit="1GB", reduce="pca:10/50", seed=3)
    assert merged.memory_bytes() == 10**9
    assert merged.reduction() == ReductionSpec("pca", 10, 3, 50)  # parsed with the options' seed
    assert merged.reduction(seed=7) == ReductionSpec("pca", 10, 7, 50)  # or with the model's, when planning
    assert merged.keywords() == {"tokens": "cls", "reduce": "pca:10/50", "memory_limit": "1GB", "seed": 3}


def test_the_cli_flags_arrive_as_one_options_object(monkeypatch):
    """brainbench extract --dry-run hands plan_extraction the object its flags make; brainbench score hands the
    scorer the same object (the seed stays the model's there)."""
    seen = {}

    def plan(model, stimuli, layers=None, *, options=None, **keywords):
        seen["extract"] = (options, keywords)
        raise ConfigError("stop here")

    def score(model, benchmark, **kwargs):
        seen["score"] = kwargs
        raise ConfigError("stop here")

    monkeypatch.setattr("brainbench.extraction.plan.plan_extraction", plan)
    monkeypatch.setattr("brainbench.scoring.scorer.score", score)
    flags = ["--tokens", "mean", "--reduce", "srp:16", "--memory-limit", "3GB", "--no-cache", "--batch-size", "4",
             "--device", "cpu"]
    out = CliRunner().invoke(main, ["extract", "-m", "synthetic_generator", "-d", "synthetic", "--dry-run", "--seed",
                                    "5", *flags])
    assert "stop here" in out.output, out.output
    assert seen["extract"] == (ExtractionOptions(tokens="mean", reduce="srp:16", memory_limit="3GB", cache=False,
                                                 batch_size=4, device="cpu", seed=5), {})
    out = CliRunner().invoke(main, ["score", "-m", "synthetic_generator", "-b", "synthetic.early", "--no-store", *flags])
    assert "stop here" in out.output, out.output
    assert seen["score"]["options"] == ExtractionOptions(tokens="mean", reduce="srp:16", memory_limit="3GB",
                                                         cache=False, batch_size=4, device="cpu")
    out = CliRunner().invoke(main, ["extract", "-m", "synthetic_generator", "-d", "synthetic", "--dry-run",
                                    "--reduce", "svd:3"])
    assert out.exit_code != 0 and "reduction 'svd:3' is not understood" in out.output


def test_the_object_and_the_keywords_give_the_same_plan_and_cache_keys():
    """The activation-cache key and the plan depend on the options' values, not on how they were passed."""
    model = brainbench.get_model("synthetic_generator")
    stimuli = brainbench.get_dataset("synthetic").stimulus_set().subset([f"synth{i:04d}" for i in range(6)])
    by_keywords = brainbench.plan_extraction(model, stimuli, ["block1", "block2"], reduce="srp:8", memory_limit="1GB")
    by_object = brainbench.plan_extraction(model, stimuli, ["block1", "block2"],
                                           options=ExtractionOptions(reduce="srp:8", memory_limit="1GB"))
    assert [p.key for p in by_object.layers] == [p.key for p in by_keywords.layers]
    assert all(p.key for p in by_object.layers) and by_object.memory_limit == by_keywords.memory_limit == 10**9
    assert by_object.reduction == by_keywords.reduction == ReductionSpec("srp", 8, model.seed)
