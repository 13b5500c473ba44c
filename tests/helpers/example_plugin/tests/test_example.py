"""The plugin author's own test, using the contract checks from brainbench's pytest plugin."""

from bb_example import build_tinynet


def test_tinynet_passes_the_model_contract(brainbench_checks, brainbench_stimuli):
    brainbench_checks.check_model(build_tinynet(), brainbench_stimuli)
