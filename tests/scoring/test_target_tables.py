"""Target preparation and ceilings dispatch through the Metric contract and tables: a metric declares what it scores
(brainbench.MetricTarget) and gets it; a metric that declares nothing gets its card kind's target; a ceiling rule is
looked up in CEILING_RULES, and an unknown one is a ConfigError naming the rules."""

from __future__ import annotations

import typing

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

import brainbench
from brainbench import ConfigError, MetricCard, MetricTarget
from brainbench.data.assembly import average_repetitions, select
from brainbench.registry.cards import BenchmarkSpec
from brainbench.registry.catalog import get_benchmark
from brainbench.registry.contracts import KIND_TARGETS, Metric
from brainbench.scoring.ceiling import CEILING_RULES, ceilings
from brainbench.scoring.splits import make_splits
from brainbench.scoring.targets import prepare_target


class Declared(Metric):
    """An encoding-kind card, but a declared RDM target (euclidean RDMs compared by Pearson r)."""

    card = MetricCard(name="declared", version="1", kind="encoding")
    target = MetricTarget("rdms", "rdm", "euclidean", "pearson")

    def __call__(self, features, target, splits):
        raise AssertionError("not called")


class Undeclared(Metric):
    """A metric written for brainbench 0.1: an RSA card and a distance attribute, no target declaration."""

    card = MetricCard(name="undeclared", version="1", kind="rsa")
    distance = "cosine"

    def __call__(self, features, target, splits):
        raise AssertionError("not called")


@pytest.fixture(scope="module")
def synthetic():
    spec = get_benchmark("synthetic.early")
    dataset = brainbench.get_dataset("synthetic")
    averaged = average_repetitions(select(dataset.assembly(spec.region, None), spec.region, None))
    return spec, dataset, averaged


def _rdms(averaged, metric):
    """One RDM per subject of the repeat-averaged responses, by scipy (the known answer)."""
    subjects = averaged["subject"].values
    return np.stack([squareform(pdist(averaged.values[:, subjects == s], metric)) for s in dict.fromkeys(subjects)])


def test_a_metric_declaring_an_rdm_target_gets_rdms_of_its_distance(synthetic):
    spec, dataset, averaged = synthetic
    target = prepare_target(spec, dataset, dataset.stimulus_set(), Declared())
    assert (target.unit_dim, target.distance, target.comparison) == ("rdm", "euclidean", "pearson")
    assert target.data.shape == (2, 300, 300)
    np.testing.assert_allclose(target.data.values, _rdms(averaged, "euclidean"), atol=1e-10)


def test_a_metric_without_a_declaration_keeps_the_default_of_its_card_kind(synthetic):
    spec, dataset, averaged = synthetic
    assert Undeclared().target == MetricTarget("rdms", "rdm", "cosine", "spearman")
    target = prepare_target(spec, dataset, dataset.stimulus_set(), Undeclared())
    np.testing.assert_allclose(target.data.values, _rdms(averaged, "cosine"), atol=1e-10)
    assert KIND_TARGETS["encoding"] == MetricTarget("responses", "neuroid")


def test_every_builtin_metric_declares_its_target_as_its_card_kind_implies():
    kinds = {"encoding": ("responses", "neuroid"), "rsa": ("rdms", "rdm"), "encoding_rsa": ("responses", "rdm"),
             "population": ("responses", "subject")}
    for name in brainbench.list_metrics():
        metric = brainbench.get_metric(name)
        if metric.card.kind == "model_only":  # a model and images, no brain target (the interpretability index)
            continue
        declared = "target" in {k for cls in type(metric).__mro__[:-1] if cls is not Metric for k in vars(cls)}
        assert declared, f"{name} declares no target"
        assert (metric.target.form, metric.target.unit) == kinds[metric.card.kind], name
    assert brainbench.get_metric("crsa").target.comparison == "pearson"
    assert brainbench.get_metric("rsa", distance="euclidean").target.distance == "euclidean"


def test_the_preparation_table_covers_every_pair_of_forms():
    """Every (assembly form, declared form) has a step; (rdms, responses) is the error test_rsa checks."""
    from brainbench.scoring.targets import PREPARE

    assert set(PREPARE) == {("responses", "responses"), ("responses", "rdms"), ("rdms", "rdms"), ("rdms", "responses")}


def test_every_declarable_ceiling_rule_has_a_function_and_an_unknown_one_is_named(synthetic):
    spec, dataset, _ = synthetic
    declarable = set(typing.get_args(BenchmarkSpec.model_fields["ceiling"].annotation))
    assert set(CEILING_RULES) == declarable
    target = prepare_target(spec, dataset, dataset.stimulus_set(), brainbench.get_metric("ridge"))
    splits = make_splits(spec.splits, len(target.ids))
    with pytest.raises(ConfigError, match=r"ceiling rule 'split-half' is not known \(did you mean 'split_half'\?\); "
                                          r"the rules are split_half, internal_consistency, ncsnr, nili, none"):
        ceilings(spec.model_copy(update={"ceiling": "split-half"}), target, splits)
    none = ceilings(spec.model_copy(update={"ceiling": "none"}), target, splits)
    assert none.per_unit is None and none.rule == "none"
    split_half = ceilings(spec, target, splits)  # the synthetic data's true reliabilities: 0.8 (s1) and 0.5 (s2)
    subjects = target.data["subject"].values
    assert np.mean(split_half.reliability[subjects == "s1"]) == pytest.approx(0.8, abs=0.05)
    assert np.mean(split_half.reliability[subjects == "s2"]) == pytest.approx(0.5, abs=0.05)
    np.testing.assert_allclose(split_half.per_unit, np.sqrt(np.clip(split_half.reliability, 0, None)))


def test_check_metric_refuses_a_target_that_is_not_a_metric_target():
    from brainbench.testing import ContractError, check_metric

    metric = brainbench.get_metric("ridge")
    metric.target = "rdms"
    with pytest.raises(ContractError, match=r"metric.target must be a brainbench.MetricTarget .*not str"):
        check_metric(metric)


def test_a_model_only_metric_is_refused_as_a_benchmark_metric_before_any_work():
    from brainbench.errors import ConfigError

    with pytest.raises(ConfigError, match="metric 'ii' measures a model alone"):
        brainbench.score("synthetic_generator", "synthetic.late", metric="ii", progress=False)
