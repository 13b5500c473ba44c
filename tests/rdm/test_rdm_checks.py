"""One check per RDM method name: an unknown comparison or distance is the same ConfigError (naming the known
ones and the close matches) from every caller — the kernels, the noise ceilings, the RSA metric, the scorer's
RDM targets; and brainbench.rdm offers every public name of its modules."""

import numpy as np
import pytest

import brainbench.rdm
from brainbench.errors import ConfigError
from brainbench.plugins.metrics.rsa import RSA
from brainbench.rdm import ceilings, comparisons, distances, rdms
from brainbench.rdm.ceilings import noise_ceiling, subject_ceilings
from brainbench.rdm.comparisons import COMPARISONS, check_comparison, compare, compare_weighted
from brainbench.rdm.distances import DISTANCES, check_distance, dissimilarity, rdm_of_repetitions, rdms_of_responses
from brainbench.data.assembly import neural_assembly

KNOWN_COMPARISONS = "'spearman', 'pearson', 'cosine', 'rho_a', 'tau_a'"
KNOWN_DISTANCES = "'correlation', 'cosine', 'euclidean', 'sqeuclidean'"


def _subject_rdms(seed=0, subjects=3, n=6):
    rng = np.random.default_rng(seed)
    return np.stack([dissimilarity(rng.normal(size=(n, 4))) for _ in range(subjects)])


def _comparison_callers():
    a, b = np.arange(6.0), np.array([0.0, 2, 1, 3, 5, 4])
    subject = _subject_rdms()
    return {
        "compare": lambda m: compare(a, b, m),
        "compare_weighted": lambda m: compare_weighted(a, b, np.ones((2, 6)), m),
        "subject_ceilings": lambda m: subject_ceilings(subject, m),
        "noise_ceiling": lambda m: noise_ceiling(subject, m),
        "RSA": lambda m: RSA(comparison=m),
    }


@pytest.mark.parametrize("caller", sorted(_comparison_callers()))
def test_an_unknown_comparison_is_one_config_error_from_every_caller(caller):
    call = _comparison_callers()[caller]
    with pytest.raises(ConfigError) as info:
        call("spearmann")
    message = str(info.value)
    assert f"'spearmann' is not one of {KNOWN_COMPARISONS}; did you mean 'spearman'" in message
    assert ("RSA comparison" if caller == "RSA" else "RDM comparison") in message
    with pytest.raises(ConfigError, match=r"'kendall' is not one of .*'tau_a'$"):  # no close match: no guess
        call("kendall")


def test_every_known_comparison_passes_the_check_and_gives_the_definition():
    a, b = np.arange(6.0), np.array([0.0, 2, 1, 3, 5, 4])
    assert [check_comparison(m) for m in COMPARISONS] == list(COMPARISONS)
    # hand computation: ranks equal values; d = (0, 1, -1, 0, 1, -1), sum d^2 = 4, m = 6 -> 1 - 6*4/(6*35) = 31/35
    assert compare(a, b, "spearman") == pytest.approx(31 / 35, abs=1e-12)
    assert compare(a, b, "rho_a") == pytest.approx(31 / 35, abs=1e-12)  # no ties: rho_a equals spearman
    # tau_a: of 15 pairs, the swapped (1,2) and (4,5) are discordant: (13 - 2) / 15
    assert compare(a, b, "tau_a") == pytest.approx(11 / 15, abs=1e-12)


def test_an_unknown_distance_is_one_config_error_from_every_caller():
    x = np.random.default_rng(0).normal(size=(5, 3))
    responses = neural_assembly(np.random.default_rng(1).normal(size=(6, 4)), stimulus_id=[f"s{i}" for i in range(6)],
                                neuroid_id=[f"n{i}" for i in range(4)], region="IT", subject="1")
    callers = {
        "dissimilarity": lambda d: dissimilarity(x, d),
        "rdm_of_repetitions": lambda d: rdm_of_repetitions(x[None], d),
        "rdms_of_responses": lambda d: rdms_of_responses(responses, d),
        "RSA": lambda d: RSA(distance=d),
    }
    for name, call in callers.items():
        with pytest.raises(ConfigError, match=rf"'corelation' is not one of {KNOWN_DISTANCES}.*; did you mean "
                                              r"'correlation'\?"):
            call("corelation")
    with pytest.raises(ConfigError, match=rf"RDM distance 'crossnobis' is not one of {KNOWN_DISTANCES}$"):
        dissimilarity(x, "crossnobis")  # one pattern per stimulus: crossnobis needs trials
    assert check_distance("crossnobis", trials=True) == "crossnobis" and RSA(distance="crossnobis").distance == "crossnobis"
    assert [check_distance(d) for d in DISTANCES] == list(DISTANCES)


OLD_NAMES = ["COMPARISONS", "DISTANCES", "RDM_DIMS", "compare", "compare_weighted", "crossnobis", "dissimilarity",
             "group_labels", "is_rdm_assembly", "mean_per_subject", "noise_ceiling", "noise_precision", "rdm_assembly",
             "rdm_of_repetitions", "rdms_of_responses", "subject_ceilings", "subject_groups", "upper_triangle",
             "validate_rdms"]  # brainbench.rdm's public names before the split


def test_brainbench_rdm_offers_every_public_name_of_its_modules():
    modules = (rdms, distances, comparisons, ceilings)
    owners = {name: m for m in modules for name in m.__all__}
    assert set(OLD_NAMES) <= set(owners)
    assert sum(len(m.__all__) for m in modules) == len(owners)  # each name in one module only
    for name, module in owners.items():
        assert getattr(brainbench.rdm, name) is getattr(module, name)
    assert set(dir(brainbench.rdm)) >= set(owners)
