"""Uncertainty: held-out data rescored under bootstrap weights equals the statistic recomputed on the resampled
stimuli (scipy, rsatoolbox's pattern bootstrap), the bootstrap SE of r matches its closed form, replicates
reproduce the score, and paired tests separate a good model from a bad one and not a model from itself."""

import itertools

import numpy as np
import pytest
from scipy.stats import pearsonr

import brainbench
from brainbench.errors import ConfigError
from brainbench.scoring.held_out import HeldOutPredictions, HeldOutRDMs
from brainbench.encoding.cka import cka_weighted
from brainbench.scoring.compare import compare_models
from brainbench.scoring.inference import ResamplingBasis, _sign_flip, bootstrap_interval, paired_test
from brainbench.rdm.comparisons import COMPARISONS, compare, compare_weighted
from brainbench.rdm.distances import dissimilarity
from brainbench.rdm.rdms import upper_triangle
from brainbench.scoring.scorer import score_with_selection as evaluate
from brainbench.scoring.splits import Split


@pytest.mark.parametrize("method", COMPARISONS)
def test_weighted_comparison_equals_the_expanded_entries(method):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, 50).astype(float)  # many ties
    b = rng.normal(size=50)
    b[:8] = b[8]
    weights = rng.integers(0, 3, (5, 50)).astype(float)
    expected = [compare(np.repeat(a, w.astype(int)), np.repeat(b, w.astype(int)), method) for w in weights]
    np.testing.assert_allclose(compare_weighted(a, b, weights, method), expected, atol=1e-12)
    many = np.stack([b, rng.normal(size=50), np.round(rng.normal(size=50))])  # one model RDM, three brain RDMs
    for u, row in enumerate(many):
        expected = [compare(np.repeat(a, w.astype(int)), np.repeat(row, w.astype(int)), method) for w in weights]
        np.testing.assert_allclose(compare_weighted(a[None], many, weights, method)[:, u], expected, atol=1e-12)


def predictions(n=40, units=3, seed=1):
    rng = np.random.default_rng(seed)
    observed = rng.normal(size=(n, units))
    return observed + rng.normal(size=(n, units)), observed


def test_rescored_predictions_equal_pearson_on_the_resampled_rows():
    test = np.arange(5, 45)  # the split tests stimuli 5..44 of 50
    pred, obs = predictions()
    held = HeldOutPredictions([test], [pred], [obs])
    counts = np.random.default_rng(2).multinomial(50, np.full(50, 0.02), size=4).astype(float)
    got = held.rescore(counts)[0]
    for b, w in enumerate(counts[:, test].astype(int)):
        rows = np.repeat(np.arange(len(test)), w)
        assert got[b] == pytest.approx([pearsonr(pred[rows, u], obs[rows, u])[0] for u in range(3)], abs=1e-10)
    assert held.rescore(np.ones((1, 50)))[0][0] == pytest.approx([pearsonr(pred[:, u], obs[:, u])[0] for u in range(3)])


def test_exchanged_predictions_equal_an_explicit_swap():
    test = np.arange(40)
    pred_a, obs = predictions(seed=3)
    pred_b = obs + 2 * np.random.default_rng(4).normal(size=obs.shape)
    a, b = HeldOutPredictions([test], [pred_a], [obs]), HeldOutPredictions([test], [pred_b], [obs])
    swaps = np.random.default_rng(5).integers(0, 2, (3, 40))
    mine, theirs = a.exchanged(b, swaps)
    for p, s in enumerate(swaps.astype(bool)):
        swapped_a, swapped_b = np.where(s[:, None], pred_b, pred_a), np.where(s[:, None], pred_a, pred_b)
        for u in range(3):
            assert mine[0][p, u] == pytest.approx(pearsonr(swapped_a[:, u], obs[:, u])[0], abs=1e-10)
            assert theirs[0][p, u] == pytest.approx(pearsonr(swapped_b[:, u], obs[:, u])[0], abs=1e-10)


@pytest.mark.parametrize(("ours", "theirs"), [("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine"),
                                              ("rho_a", "rho-a"), ("tau_a", "tau-a")])
def test_rescored_rdms_equal_rsatoolbox_pattern_subsampling(ours, theirs):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    rng = np.random.default_rng(6)
    X = rng.normal(size=(20, 8))
    model, brain = dissimilarity(X), dissimilarity(X + rng.normal(size=X.shape), "euclidean")
    held = HeldOutRDMs([np.arange(20)], [upper_triangle(model)[None]], [upper_triangle(brain)[None]], ours)
    for sample in rng.integers(0, 20, (3, 20)):
        weights = np.bincount(sample, minlength=20)[None].astype(float)
        # rsatoolbox's bootstrap: the RDM of the drawn patterns, pairs of a pattern with its own copy left out
        sub = [rsatoolbox.rdm.RDMs(upper_triangle(m)[None]).subsample_pattern("index", sample) for m in (model, brain)]
        expected = rsatoolbox.rdm.compare(*sub, method=theirs)[0, 0]
        assert held.rescore(weights)[0][0, 0] == pytest.approx(expected, abs=1e-10)


def test_bootstrap_se_of_a_correlation_matches_its_closed_form():
    """For bivariate normal data the SE of Pearson's r is about (1 - rho^2) / sqrt(n)."""
    n, rho = 400, 0.6
    rng = np.random.default_rng(7)
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    held = HeldOutPredictions([np.arange(n)], [x[:, None]], [y[:, None]])
    counts = rng.multinomial(n, np.full(n, 1 / n), size=2000).astype(float)
    r = held.rescore(counts)[0][:, 0]
    assert r.std() == pytest.approx((1 - rho**2) / np.sqrt(n), rel=0.1)
    assert r.mean() == pytest.approx(pearsonr(x, y)[0], abs=0.01)


@pytest.mark.parametrize("benchmark", ["synthetic.late", "synthetic.late-rsa", "synthetic.late-pls"])
def test_unit_weights_reproduce_the_score_and_the_interval_brackets_it(benchmark):
    result, selection = evaluate("synthetic_generator", benchmark, layers=["block1", "block2"], progress=False)
    per_subject = selection.replicates(np.ones((1, selection.n_stimuli)))[0]
    assert per_subject == pytest.approx([s.raw for s in result.subjects.values()], abs=1e-9)
    interval = bootstrap_interval(selection, n_boot=200, seed=1)
    assert interval.low < result.raw < interval.high and interval.over == "stimuli and subjects"
    assert interval.normalised_low < result.normalised < interval.normalised_high
    assert interval == bootstrap_interval(selection, n_boot=200, seed=1)  # seeded: the same interval again


def test_a_repeated_layer_keeps_the_held_out_data_of_the_layer_it_repeats():
    """block3 repeats block3.2 (one shared result); scoring a later layer must not drop that result's held-out data."""
    result = brainbench.score("synthetic_generator", "synthetic.late", layers=["block3", "block3.2", "head"],
                              progress=False, bootstrap=20)
    assert result.layer == "block3.2" and result.interval.low < result.raw < result.interval.high


def test_score_carries_its_interval_through_json():
    result = brainbench.score("synthetic_generator", "synthetic.early", layers=["block1"], progress=False, bootstrap=100)
    assert result.interval.n_boot == 100 and result.interval.level == 0.95
    assert brainbench.ScoreResult.from_json(result.to_json()) == result
    with pytest.raises(ConfigError, match="bootstrap replicates must be a whole number >= 2; got 1"):
        brainbench.score("synthetic_generator", "synthetic.early", layers=["block1"], progress=False, bootstrap=1)


def test_a_metric_without_held_out_data_says_it_has_no_interval():
    selection = ResamplingBasis(metric="mine", benchmark="b", subjects=["s"], held_out=[None], raw=np.zeros(1), ceiling=None,
                          aggregate="mean", n_stimuli=10)
    with pytest.raises(ConfigError, match="'mine' keeps no held-out data"):
        bootstrap_interval(selection, n_boot=50)


@pytest.mark.parametrize("unbiased", [True, False], ids=["unbiased", "biased"])
def test_weighted_cka_equals_cka_of_the_repeated_stimuli(unbiased):
    import torch

    from brainbench.plugins.metrics.brainscore import linear_cka

    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((25, 7)), rng.standard_normal((25, 4))
    Y[:, 0] += 2 * X[:, 0]
    weights = rng.multinomial(25, np.full(25, 1 / 25), size=6).astype(float)
    weights[0] = 1  # unit weights: plain CKA
    ours = cka_weighted(X @ X.T, Y @ Y.T, weights, unbiased)
    assert ours[0] == pytest.approx(linear_cka(torch.from_numpy(X), torch.from_numpy(Y), unbiased), abs=1e-12)
    for w, value in zip(weights[1:], ours[1:], strict=True):
        rows = np.repeat(np.arange(25), w.astype(int))
        if not unbiased:  # the biased statistic of the repeated rows
            assert value == pytest.approx(linear_cka(torch.from_numpy(X[rows]), torch.from_numpy(Y[rows]), False), abs=1e-12)
            continue
        copies = rows[:, None] == rows[None, :]  # the U-statistic with a stimulus never paired with its copies
        K, L = np.where(copies, 0, (X @ X.T)[np.ix_(rows, rows)]), np.where(copies, 0, (Y @ Y.T)[np.ix_(rows, rows)])
        n = len(rows)

        def hsic1(A, B):
            return (np.sum(A * B) + A.sum() * B.sum() / ((n - 1) * (n - 2)) - 2 * A.sum(0) @ B.sum(0) / (n - 2)) / (n * (n - 3))

        assert value == pytest.approx(hsic1(K, L) / np.sqrt(hsic1(K, K) * hsic1(L, L)), abs=1e-12)


def test_cka_scores_have_intervals_and_paired_tests_over_subjects():
    from brainbench import SplitSpec
    from brainbench.data.assembly import neural_assembly
    from brainbench.plugins.metrics.brainscore import CKA
    from brainbench.scoring.splits import make_splits

    scored, held_out = evaluate("synthetic_generator", "synthetic.late-cka", layers=["block3"], progress=False)
    interval = bootstrap_interval(held_out, n_boot=200, seed=1)
    assert interval.low < scored.raw < interval.high and interval.over == "stimuli and subjects"

    rng = np.random.default_rng(0)  # three subjects whose responses the latent drives; features: the latent or noise
    latent = rng.standard_normal((120, 10))
    target = neural_assembly(latent @ rng.standard_normal((10, 15)) + rng.standard_normal((120, 15)),
                             stimulus_id=[f"s{i}" for i in range(120)], neuroid_id=[f"n{i}" for i in range(15)],
                             region="r", subject=np.repeat(["a", "b", "c"], 5))
    splits = make_splits(SplitSpec(n_splits=4), 120)

    def selection(values):
        features = brainbench.testing.feature_assembly(values, target["stimulus_id"].values)
        result = CKA()(features, target, splits)
        masks = [result.test["subject"].values == s for s in ("a", "b", "c")]
        return ResamplingBasis(metric="cka", benchmark="b", subjects=["a", "b", "c"], held_out=[result.held_out.units(m) for m in masks],
                         raw=np.array([result.test.values[:, m].mean() for m in masks]), ceiling=None, aggregate="mean",
                         n_stimuli=120)

    test = paired_test(selection(latent), selection(rng.standard_normal((120, 10))), n_boot=200, n_perm=200)
    assert test["difference"] > 0.3 and test["interval"].low > 0 and test["p_bootstrap"] < 0.01
    assert test["permutation"] == "subjects" and test["p_permutation"] == 0.25  # exact: 2 of 2^3 sign patterns
def test_paired_tests_separate_the_generating_layer_from_an_early_one():
    options = {"progress": False}
    good = evaluate("synthetic_generator", "synthetic.late", layers=["block3"], **options)[1]
    poor = evaluate("synthetic_generator", "synthetic.late", layers=["block1"], **options)[1]
    test = paired_test(good, poor, n_boot=300, n_perm=300)
    assert test["difference"] > 0 and test["interval"].low > 0
    assert test["p_bootstrap"] < 0.01 and test["p_permutation"] < 0.01 and test["permutation"] == "stimuli"
    same = paired_test(good, good, n_boot=100, n_perm=100)
    assert same["difference"] == 0 and same["p_bootstrap"] == 1 and same["p_permutation"] == 1


def test_rdm_metrics_permute_by_flipping_subject_signs():
    a = evaluate("synthetic_generator", "synthetic.late-rsa", layers=["block3"], progress=False)[1]
    b = evaluate("synthetic_generator", "synthetic.late-rsa", layers=["block1"], progress=False)[1]
    test = paired_test(a, b, n_boot=100, n_perm=1000)
    assert test["permutation"] == "subjects"
    signs = np.array(list(itertools.product((1, -1), repeat=len(a.subjects))))
    d = a.raw - b.raw
    assert test["p_permutation"] == pytest.approx(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9))


def test_sign_flip_p_values_are_exact():
    rng = np.random.default_rng(0)
    assert _sign_flip(np.array([1.0, 2.0, 3.0, 4.0]), 1000, rng) == 2 / 16  # only all-plus and all-minus reach 2.5
    assert _sign_flip(np.array([1.0, -1.0]), 1000, rng) == 1.0


def test_compare_models_scores_both_and_stores_them(tmp_path):
    store = brainbench.ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    random = brainbench.get_model("synthetic_generator", weights="random")
    comparison, a, b = compare_models("synthetic_generator", random, "synthetic.early", store=store,
                                      layers=["block1"], n_boot=100, n_perm=100, progress=False)
    assert (comparison.model_a, comparison.model_b) == ("synthetic_generator", "synthetic_generator[random]")
    assert comparison.difference == pytest.approx(a.raw - b.raw) and comparison.p_bootstrap < 0.05
    assert a.interval is not None and b.interval is not None and len(store.rows()) == 2


def test_inference_is_statistics_only_and_the_old_compare_name_still_imports():
    """compare_models scores models, so it lives in scoring.compare; scoring.inference imports no scorer, and its old
    name for compare_models is the moved function, with a DeprecationWarning naming the new place."""
    import ast
    from pathlib import Path

    import brainbench.scoring.inference as inference

    tree = ast.parse(Path(inference.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "scorer" not in imported  # only the lazy __getattr__ below names scoring.compare
    with pytest.warns(DeprecationWarning, match=r"brainbench\.scoring\.compare\.compare_models"):
        old = inference.compare_models
    assert old is compare_models is brainbench.compare_models
    with pytest.warns(DeprecationWarning, match=r"Selection is now ResamplingBasis"):
        assert inference.Selection is ResamplingBasis
    with pytest.raises(AttributeError, match="no_such_name"):
        inference.no_such_name  # noqa: B018
