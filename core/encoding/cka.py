r"""Linear CKA (Kornblith et al. 2019) from Gram matrices, under stimulus weights.

With linear kernels :math:`K = XX^\top`, :math:`L = YY^\top` over n stimuli, biased CKA is
:math:`\langle HKH, HLH\rangle_F / (\lVert HKH\rVert_F \lVert HLH\rVert_F)`, :math:`H = I - 11^\top/n`;
unbiased CKA replaces HSIC by Song et al.'s U-statistic (K, L with zero diagonals),

.. math::

    \mathrm{HSIC}_1 = \frac{1}{n(n-3)}\Big[\mathrm{tr}(KL) + \frac{1^\top K 1\, 1^\top L 1}{(n-1)(n-2)}
    - \frac{2}{n-2} 1^\top K L 1\Big],

and is 0 where :math:`\mathrm{HSIC}_1(K, K)\,\mathrm{HSIC}_1(L, L) \le 0` (as Brain-Score).

Stimulus weights ``w`` (integer counts, a bootstrap's) give CKA over the stimuli repeated ``w_i`` times
without building the repeated matrices: with :math:`n = \sum w`, :math:`k = Kw`, :math:`l = Lw`, the biased
HSIC is :math:`w^\top(K\circ L)w - \tfrac{2}{n} \sum_i w_i k_i l_i + (w^\top k)(w^\top l)/n^2`. The
U-statistic takes the same sums over K and L with zero diagonals, so that, as its zero diagonal keeps a
stimulus from pairing with itself, no stimulus pairs with its own copy either (a copy pair would count the
stimulus's squared norm as similarity: the rule of rsatoolbox's RDM bootstrap). Unit weights give plain
CKA. The functions take numpy arrays or torch tensors alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["cka", "cka_weighted"]


def _without_diagonal(K: Any) -> Any:
    if hasattr(K, "fill_diagonal_"):  # torch
        return K.clone().fill_diagonal_(0)
    K = np.array(K, dtype=float)
    np.fill_diagonal(K, 0)
    return K


def cka_weighted(K: Any, L: Any, W: Any, unbiased: bool = True) -> Any:
    """Linear CKA of Grams ``K``, ``L`` (n, n) under each row of stimulus weights ``W`` (B, n) -> (B,)."""
    if unbiased:  # a stimulus never pairs with itself, nor with its copies
        K, L = _without_diagonal(K), _without_diagonal(L)
    n = W.sum(1)
    k, l = W @ K, W @ L  # K, L symmetric: row b is K w_b

    def hsic(A, a, B, b):  # up to a factor common to the three HSICs of a biased CKA
        cross, sums, products = ((W @ (A * B)) * W).sum(1), (W * a).sum(1) * (W * b).sum(1), (W * a * b).sum(1)
        if unbiased:
            return (cross + sums / ((n - 1) * (n - 2)) - 2 * products / (n - 2)) / (n * (n - 3))
        return cross - 2 * products / n + sums / n**2

    xy, xx, yy = hsic(K, k, L, l), hsic(K, k, K, k), hsic(L, l, L, l)
    denominator = xx * yy
    valid = denominator > 0
    return valid * xy / (denominator * valid + ~valid) ** 0.5  # 0 where a side has no (estimated) variance


def cka(K: Any, L: Any, unbiased: bool = True) -> float:
    """Linear CKA of Grams ``K``, ``L`` (n, n), every stimulus once."""
    ones = K.new_ones((1, len(K))) if hasattr(K, "new_ones") else np.ones((1, len(K)))
    return float(cka_weighted(K, L, ones, unbiased)[0])
