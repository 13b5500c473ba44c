"""The interpretability index's parts against known answers: streamed top-k against a full stable sort, II against
pair-by-pair hand sums (no diagonal), units built to prefer one image family against the random-set baseline, and
the comparisons against their textbook formulas."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from brainbench.errors import ConfigError
from brainbench.interpret.index import distinct_pairs, interpretability_index, random_set_baseline
from brainbench.interpret.stats import compare_groups, compare_pair
from brainbench.interpret.topk import TopK, top_k


def _full_sort(acts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-acts, axis=0, kind="stable")[:k].T  # stable: equal values keep the earlier stimulus
    return np.take_along_axis(acts.T, order, axis=1), order


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_streamed_top_k_equals_a_full_stable_sort_ties_included(batch):
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 12, size=(300, 9)).astype(float)  # many ties
    values, indices = top_k(acts, 10, batch_size=batch)
    ref_values, ref_indices = _full_sort(acts, 10)
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(indices, ref_indices)


def test_top_k_keeps_only_k_per_unit_whatever_the_probe_size():
    selector = TopK(5)
    rng = np.random.default_rng(1)
    acts = rng.normal(size=(2000, 4))
    for start in range(0, 2000, 100):
        selector.update(acts[start:start + 100])
        assert selector._values.shape == (4, 5)  # memory: units x k after every batch
    np.testing.assert_array_equal(selector.result()[1], _full_sort(acts, 5)[1])


def test_top_k_bad_input():
    with pytest.raises(ConfigError, match="k \\(images per unit\\) must be a whole number >= 1"):
        TopK(0)
    small = TopK(5)
    small.update(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="the probe set has 3 stimuli, fewer than k = 5"):
        small.result()
    with pytest.raises(ConfigError, match="this batch has 3 units; earlier batches had 2"):
        small.update(np.zeros((2, 3)))
    nan = np.zeros((4, 2))
    nan[2, 1] = np.nan
    with pytest.raises(ConfigError, match=r"NaN for stimuli \[5\]"):
        small.update(nan)


def test_ii_is_one_minus_the_mean_distance_over_distinct_pairs_only():
    x = np.array([0.0, 0.1, 0.5, 0.9, 0.2, 0.35])  # one number per probe image

    def distance(a, b):
        return np.abs(x[a] - x[b])

    sets = np.array([[0, 1, 2, 3], [4, 5, 0, 2], [3, 1, 5, 4]])
    ii, mean_distance = interpretability_index(sets, distance, pairs_per_call=5)  # pairs split across calls
    by_hand = [np.mean([abs(x[p] - x[q]) for p, q in combinations(row, 2)]) for row in sets]
    np.testing.assert_allclose(mean_distance, by_hand, rtol=1e-12)
    np.testing.assert_allclose(ii, 1 - np.array(by_hand), rtol=1e-12)
    two, _ = interpretability_index(np.array([[0, 3]]), distance)
    assert two[0] == pytest.approx(1 - 0.9)  # k = 2: the one pair, no diagonal zeros averaged in
    i, j = distinct_pairs(5)
    assert len(i) == 10 and (i < j).all()


def test_ii_refuses_bad_distances_and_sets():
    with pytest.raises(ConfigError, match="returned shape"):
        interpretability_index(np.array([[0, 1, 2]]), lambda a, b: np.zeros((len(a), 2)))
    with pytest.raises(ConfigError, match="non-finite"):
        interpretability_index(np.array([[0, 1, 2]]), lambda a, b: np.full(len(a), np.nan))
    with pytest.raises(ConfigError, match="integer probe indices"):
        interpretability_index(np.array([[0.0, 1.0]]), lambda a, b: np.zeros(len(a)))
    with pytest.raises(ConfigError, match="fewer than k = 8"):
        random_set_baseline(5, 8, lambda a, b: np.zeros(len(a)))


def test_units_that_prefer_an_image_family_beat_the_baseline_and_a_random_unit_sits_on_it():
    """Probe images from three families (a colour, a texture, mixed): images of one family are close. A unit that
    fires for the colour family has colour images as its MEIs and a high II; the texture unit likewise; a unit
    firing at random has random MEIs, so its II is within the baseline's spread."""
    rng = np.random.default_rng(3)
    n = 600
    family = rng.integers(0, 3, size=n)
    centres = rng.normal(size=(3, 8)) * 3
    embedding = centres[family] + rng.normal(size=(n, 8)) * 0.5

    def distance(a, b):  # a perceptual distance in [0, ~1]
        return np.linalg.norm(embedding[a] - embedding[b], axis=1) / 12

    acts = np.stack([(family == 0) * 2.0 + rng.normal(size=n) * 0.3,  # colour unit
                     (family == 1) * 2.0 + rng.normal(size=n) * 0.3,  # texture unit
                     rng.normal(size=n)], axis=1)  # random unit
    _, indices = top_k(acts, 12, batch_size=50)
    ii, _ = interpretability_index(indices, distance)
    baseline = random_set_baseline(n, 12, distance, n_sets=200, seed=0)
    z = baseline.normalise(ii)
    assert ii[0] > ii[2] and ii[1] > ii[2]
    assert z[0] > 5 and z[1] > 5 and abs(z[2]) < 3
    assert (family[indices[0]] == 0).all() and (family[indices[1]] == 1).all()


def test_welch_anova_permutation_and_effect_sizes_equal_their_formulas():
    rng = np.random.default_rng(4)
    a, b, c = rng.normal(0.3, 0.1, 40), rng.normal(0.25, 0.2, 25), rng.normal(0.28, 0.15, 30)
    result = compare_pair(a, b, n_permutations=2000, seed=1)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))  # Welch-Satterthwaite
    assert result.welch_t == pytest.approx(t, rel=1e-12) and result.welch_df == pytest.approx(df, rel=1e-12)
    sp = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    assert result.cohens_d == pytest.approx((a.mean() - b.mean()) / sp, rel=1e-12)
    groups = compare_groups(a, b, c)
    pooled = np.concatenate([a, b, c])
    between = sum(g.size * (g.mean() - pooled.mean()) ** 2 for g in (a, b, c))
    within = sum(((g - g.mean()) ** 2).sum() for g in (a, b, c))
    assert groups.f == pytest.approx((between / 2) / (within / (pooled.size - 3)), rel=1e-10)
    assert groups.eta_squared == pytest.approx(between / (between + within), rel=1e-10)


def test_the_permutation_p_is_exact_on_small_groups():
    a, b = np.array([0.9, 0.8, 0.85]), np.array([0.1, 0.3, 0.2, 0.25])
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    diffs = [pooled[list(s)].mean() - np.delete(pooled, list(s)).mean() for s in combinations(range(7), 3)]
    diffs = np.array(diffs)  # all 35 relabellings, the observed one included; two-sided: twice the smaller tail
    exact = min(1.0, 2 * min(np.mean(diffs >= observed - 1e-12), np.mean(diffs <= observed + 1e-12)))
    assert compare_pair(a, b, n_permutations=10_000).permutation_p == pytest.approx(exact)
    with pytest.raises(ConfigError, match="group b has 1 value"):
        compare_pair(a, [0.1])
    with pytest.raises(ConfigError, match="2 or more groups"):
        compare_groups(a)
