r"""Array kernels for encoding metrics (torch; any device, float32 or float64), shared by metric plugins.

**Ridge with leave-one-out (GCV) alpha choice.** With features centred on the training set, the
training-set eigenbasis ``(lam, U)`` comes from the smaller of the two Gram matrices — dual
:math:`XX^\top = U\Lambda U^\top` when features >= samples, primal :math:`X^\top X = V\Lambda V^\top`
(:math:`U = XV\Lambda^{-1/2}`) otherwise — and serves every alpha and every target:

.. math::

    \hat y = \bar y + U\,\mathrm{diag}\!\left(\tfrac{\lambda}{\lambda+\alpha}\right) U^\top (y-\bar y),\qquad
    h_{ii} = \tfrac1n + \sum_k U_{ik}^2 \tfrac{\lambda_k}{\lambda_k+\alpha},\qquad
    y_i - \hat y_{-i} = \frac{y_i-\hat y_i}{1-h_{ii}}

and held-out predictions are :math:`\bar y + T\,\mathrm{diag}(1/(\lambda+\alpha))\,U^\top (y-\bar y)` with
:math:`T = X_{test} X^\top U`. Each target takes the alpha with the best LOO criterion (lowest squared
error, as scikit-learn's ``RidgeCV(alpha_per_target=True)``, or highest Pearson r of the LOO
predictions, as DeepJuice); the first alpha wins ties. Targets are processed in batches so memory
stays bounded (``alphas x samples x batch``).

**PLS regression** (NIPALS, as scikit-learn's ``PLSRegression(scale=False)``): component k's x-weights
are the first left singular vector of the deflated cross-covariance :math:`C_k = X_k^\top Y_k`; deflation
:math:`X_{k+1} = X_k - t_k p_k^\top`, and since :math:`X_{k+1}^\top t_k = 0`,
:math:`C_{k+1} = C_k - p_k (t_k^\top Y)`, so Y is never deflated explicitly. ``algorithm="svd"`` computes
the vector exactly (eigenvector of the smaller of :math:`C_k C_k^\top`, :math:`C_k^\top C_k`);
``"nipals"`` runs scikit-learn's power iteration step for step, which on the weights is
:math:`w \leftarrow C_k C_k^\top w / \lVert\cdot\rVert` from :math:`w_0 \propto C_k[:, j]` (j the first
column of :math:`Y_k` that is not zero) until :math:`\lVert w - w_{old}\rVert^2 < 10^{-6}` or 500 steps
(one step at q = 1): the same weights, also where the iteration stops short of the singular vector, at
O(pq) a step instead of O(n(p+q)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["RIDGE_ALPHAS", "eigenbasis", "kernel_eigenbasis", "least_squares", "loo_operators", "pearson_columns",
           "pls_fit_predict", "ridge_kfold", "ridge_operators", "ridge_path", "ridge_predictions"]

RIDGE_ALPHAS = tuple(np.logspace(-3, 4, 15))
"""The default alpha grid of ridge encoding (the ``ridge`` and ``banded_ridge`` metrics): 15 values from 1e-3 to
1e4, evenly spaced in log, each relative to the mean eigenvalue of a split's training kernel."""

BATCH_BYTES = 2**28
OPERATOR_BYTES = 2**30  # ridge_path's LOO operators (alphas x n x n) above this: the eigenbasis form
PLS_TOL, PLS_MAX_ITER = 1e-6, 500  # PLSRegression's defaults


def pearson_columns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r between matching columns of two ``(n, q)`` tensors (NaN where a column is constant)."""
    return pearson_columns_batched(a[None], b)[0]


def kernel_eigenbasis(K_train: torch.Tensor, K_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(lam, U, T)`` for :func:`ridge_path` from linear kernels of centred features: ``K_train`` (n, n) and
    ``K_test`` (m, n), the test stimuli against the training stimuli."""
    import torch

    lam, U = torch.linalg.eigh(K_train)
    return lam.clamp_min(0), U, K_test @ U


def eigenbasis(X_train: torch.Tensor, X_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(lam, U, T)`` for :func:`ridge_path` from features centred on the training set (module docstring):
    the dual eigendecomposition when features >= samples, else the primal one."""
    import torch

    n, p = X_train.shape
    if p >= n:
        return kernel_eigenbasis(X_train @ X_train.T, X_test @ X_train.T)
    lam, V = torch.linalg.eigh(X_train.T @ X_train)
    keep = lam > lam.max() * p * torch.finfo(lam.dtype).eps  # directions with no variance carry no signal
    lam, V = lam[keep], V[:, keep]
    U = (X_train @ V) / lam.sqrt()
    return lam, U, (X_test @ V) * lam.sqrt()


def ridge_path(lam: torch.Tensor, U: torch.Tensor, T: torch.Tensor, Y: torch.Tensor, alphas: torch.Tensor,
               criterion: Literal["mse", "pearson"] = "mse", *, per_target: bool = True,
               fast: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Alpha by LOO ``criterion`` per target (or, ``per_target=False``, one alpha for all by the mean squared
    LOO error, as ``RidgeCV()``); returns (best alpha index (q,), LOO predictions (n, q) and test predictions
    (m, q) at each target's alpha). ``Y`` is ``(n, q)`` on the training stimuli; alphas are absolute.

    Per target, every alpha's LOO predictions are one matrix product :math:`[L_a]_a Y` with the operators of
    :func:`loo_operators`: ``a n^2 q`` in all, ``a n^2`` memory for the operators, and neither :math:`U^\top Y` nor
    an ``(a, n, r)`` scaled copy of U per batch. ``fast`` with ``"mse"`` (float64 ``Y``): that product runs in
    float32 with a rounding bound per alpha and target (as :func:`ridge_kfold`); where the bounds do not prove the
    choice, the alphas whose interval reaches the chosen one's are recomputed in float64 (the others are proven
    worse), so the chosen alphas are float64's, and the predictions at them are computed in float64. For
    ``"pearson"`` the bound on r (:math:`2\beta/\lVert\hat p_c\rVert`) proved almost no choice on the eReg
    benchmark (9,544 of 9,586 neuroids unproven), so that criterion computes in float64.
    ``per_target=False``, or operators over ``OPERATOR_BYTES`` (1 GiB; n above 4,380 at 7 alphas in float64), keep
    the eigenbasis form in ``Y``'s dtype: :math:`U^\top Y` and an ``(a, n, r)`` scaled copy of U per batch."""
    import torch

    if per_target and len(alphas) * Y.shape[0] ** 2 * Y.element_size() <= OPERATOR_BYTES:
        return _ridge_path_per_target(lam, U, T, Y, alphas, criterion, fast)

    n, q = Y.shape
    y_mean = Y.mean(0)
    shrink = lam / (lam + alphas[:, None])  # (a, r)
    inverse = 1.0 / (lam[None, :] + alphas[:, None])  # (a, r)
    leverage = 1.0 / n + (U * U) @ shrink.T  # (n, a)
    batch = max(1, BATCH_BYTES // (len(alphas) * n * Y.element_size()))
    batches = [slice(start, start + batch) for start in range(0, q, batch)]

    def residuals(cols: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        Yb = Y[:, cols] - y_mean[cols]
        UtY = U.T @ Yb  # (r, b)
        fitted = (U[None] * shrink[:, None, :]) @ UtY  # (a, n, b), centred: one matrix product per alpha
        return Yb, UtY, (Yb - fitted) / (1 - leverage.T[:, :, None])

    shared = None
    if not per_target:  # first pass: the alpha with the lowest squared LOO error summed over all targets
        shared = sum((residuals(cols)[2] ** 2).sum((1, 2)) for cols in batches).argmin()
    best, loo, test = [], [], []
    for cols in batches:
        Yb, UtY, resid = residuals(cols)
        if shared is not None:
            chosen = shared.repeat(Yb.shape[1])
        elif criterion == "mse":
            chosen = (resid**2).mean(1).argmin(0)
        else:
            r = torch.nan_to_num(pearson_columns_batched(Yb - resid, Yb), nan=-torch.inf)
            chosen = r.argmax(0)
        index = torch.arange(Yb.shape[1], device=Y.device)
        loo.append(Yb - resid[chosen, :, index].T + y_mean[cols])
        test.append(T @ (inverse[chosen].T * UtY) + y_mean[cols])
        best.append(chosen)
    return torch.cat(best), torch.cat(loo, 1), torch.cat(test, 1)


def loo_operators(lam: torch.Tensor, U: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    r"""LOO prediction operators ``(a, n, n)``, one per alpha: the leave-one-out predictions :math:`\hat y_{-i}` of
    training responses ``Y`` (n, q) at alpha ``a`` are ``L[a] @ Y``, with :math:`L_a = I - \mathrm{diag}(1/(1-h_a))
    (I - H_a)(I - \tfrac1n 11^\top)`, :math:`H_a = U\,\mathrm{diag}(\lambda/(\lambda+\alpha_a))\,U^\top`,
    :math:`h_a = \tfrac1n + \mathrm{diag}(H_a)` (module docstring; its diagonal is 0: a stimulus never predicts
    itself). Cost ``a n^2 r``."""
    n = U.shape[0]
    H = (U[None] * (lam / (lam + alphas[:, None]))[:, None, :]) @ U.T  # (a, n, n)
    leverage = 1.0 / n + H.diagonal(dim1=1, dim2=2)  # (a, n)
    L = H - H.mean(2, keepdim=True) + 1.0 / n  # I - (I - H)(I - 11^T/n), before the leverage scaling
    L.diagonal(dim1=1, dim2=2).sub_(1.0)
    L /= (1 - leverage)[:, :, None]
    L.diagonal(dim1=1, dim2=2).add_(1.0)
    return L


def _loo_scores(predicted: torch.Tensor, Y: torch.Tensor, criterion: str) -> tuple[torch.Tensor, torch.Tensor]:
    """What to minimise ``(a, q)`` from LOO predictions ``(a, n, q)`` (cast to ``Y``'s dtype): the squared error,
    or minus the Pearson r with ``Y`` (+inf where NaN: a constant column); and the norms ``(a, q)`` the rounding
    bounds are relative to (the residuals' for "mse", the centred predictions' for "pearson")."""
    import torch

    predicted = predicted.to(Y.dtype)
    if criterion == "mse":
        residual = Y - predicted
        error = (residual * residual).sum(1)
        return error, error.sqrt()
    predicted -= predicted.mean(1, keepdim=True)
    centred = Y - Y.mean(0)
    norm = (predicted * predicted).sum(1).sqrt()
    r = (predicted * centred).sum(1) / (norm * centred.norm(dim=0))
    return torch.nan_to_num(-r, nan=torch.inf), norm


def _ridge_path_per_target(lam, U, T, Y, alphas, criterion, fast):
    """:func:`ridge_path` with an alpha per target (its docstring)."""
    import torch

    n, q = Y.shape
    low = _low_precision(Y, fast and criterion == "mse")
    L = loo_operators(lam, U, alphas)
    L_low, l_norm = L.to(low).reshape(-1, n), L.flatten(1).norm(dim=1)
    batch = max(1, BATCH_BYTES // (len(alphas) * n * Y.element_size()))
    best = torch.empty(q, dtype=torch.long, device=Y.device)
    for start in range(0, q, batch):
        Yb = Y[:, start:start + batch]
        predicted = (L_low @ Yb.to(low)).reshape(len(alphas), n, -1)
        score, norm = _loo_scores(predicted, Yb, criterion)
        chosen = score.argmin(0)
        if low != Y.dtype:
            # ||p_hat - p|| <= beta for the LOO predictions (Higham eq. 3.13 in norm, as _error_interval), and so
            # the residual norm is within beta of the exact one
            beta = (_gamma(n + 2, low) * l_norm[:, None] * Yb.norm(dim=0)
                    + _gamma(1, low) * predicted.norm(dim=1).to(Y.dtype))
            slack = 64 * n * _gamma(1, Y.dtype)  # float64's own rounding: its near-ties go to float64 too
            lower = (norm - beta).clamp_min(0) ** 2 * (1 - slack)
            upper = (norm + beta) ** 2 * (1 + slack)
            chosen = _recheck(chosen, lower, upper, L, Yb, criterion)
        chosen[(Yb == Yb[:1]).all(0)] = 0  # a constant target: every alpha predicts it exactly, the first wins
        best[start:start + batch] = chosen
    order, blocks = _by_alpha(best, len(alphas))
    Y_sorted = Y.index_select(1, order)
    loo = _at_chosen(L, Y_sorted, blocks)
    test = torch.cat([ridge_operators(lam, U, T, alphas[a:a + 1])[0] @ Y_sorted[:, cols] for a, cols in blocks]
                     or [T.new_empty((T.shape[0], 0))], 1)
    loo, test = (part.new_empty(part.shape).index_copy_(1, order, part) for part in (loo, test))
    return best, loo, test


def _recheck(chosen: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, L: torch.Tensor, Y: torch.Tensor,
             criterion: str) -> torch.Tensor:
    """The choice where the intervals prove it; elsewhere the float64 choice among the alphas whose interval
    reaches the chosen one's (the others are proven worse), one product per alpha over the targets it is a
    candidate for."""
    import torch

    candidate = lower <= upper.gather(0, chosen[None])  # (a, q); the chosen alpha is always one
    unproven = torch.nonzero(candidate.sum(0) > 1).flatten()
    if not len(unproven):
        return chosen
    candidate = candidate[:, unproven]
    exact = torch.full(candidate.shape, torch.inf, dtype=Y.dtype, device=Y.device)
    for a in range(len(L)):
        cols = torch.nonzero(candidate[a]).flatten()
        if len(cols):
            Yc = Y[:, unproven[cols]]
            exact[a, cols] = _loo_scores((L[a] @ Yc)[None], Yc, criterion)[0][0]
    chosen = chosen.clone()
    chosen[unproven] = exact.argmin(0)
    return chosen


def ridge_operators(lam: torch.Tensor, U: torch.Tensor, T: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    r"""Prediction operators ``(a, m, n)``, one per alpha: the test predictions at alpha ``a`` are ``P[a] @ Y`` for
    training responses ``Y`` (n, q), with :math:`P_a = T\,\mathrm{diag}(1/(\lambda+\alpha_a))\,U^\top
    (I - \tfrac1n 11^\top) + \tfrac1n 11^\top` (module docstring; the centring of Y and its mean folded in. For a
    basis of centred features the centring is exact algebra, U's columns being orthogonal to 1; it keeps rounding
    in a near-null direction from carrying the mean). Forming them costs ``a m r n``, against ``r n q`` for
    :math:`U^\top Y` and ``a m r q`` for the products that use it: with many targets, predictions at every alpha
    cost ``a m n q`` and nothing else."""
    M = (T[None] / (lam[None, :] + alphas[:, None])[:, None, :]) @ U.T  # (a, m, n)
    return M - M.mean(2, keepdim=True) + 1.0 / U.shape[0]


def _by_alpha(chosen: torch.Tensor, n_alphas: int) -> tuple[torch.Tensor, list[tuple[int, slice]]]:
    """Targets ordered by their alpha index (a stable sort) and, per alpha chosen, its block of that order."""
    import torch

    order = torch.argsort(chosen, stable=True)
    counts = torch.bincount(chosen, minlength=n_alphas).tolist()
    starts = [sum(counts[:a]) for a in range(n_alphas)]
    return order, [(a, slice(starts[a], starts[a] + counts[a])) for a in range(n_alphas) if counts[a]]


def _at_chosen(P: torch.Tensor, Y_sorted: torch.Tensor, blocks: list[tuple[int, slice]]) -> torch.Tensor:
    """``P[a] @ Y`` for each block of targets (:func:`_by_alpha`, columns of ``Y_sorted`` in that order): one
    product per alpha chosen, ``m n q`` in all."""
    import torch

    parts = [P[a] @ Y_sorted[:, cols] for a, cols in blocks] or [P.new_empty((P.shape[1], 0))]
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def ridge_predictions(lam: torch.Tensor, U: torch.Tensor, T: torch.Tensor, Y: torch.Tensor, alphas: torch.Tensor,
                      chosen: torch.Tensor | None = None) -> torch.Tensor:
    """Test predictions from the training eigenbasis: at every alpha ``(a, m, q)``, or at each target's alpha index
    ``chosen`` (q,) ``(m, q)`` (module docstring); one decomposition serves all of them, through
    :func:`ridge_operators`."""
    import torch

    P = ridge_operators(lam, U, T, alphas)
    if chosen is not None:
        order, blocks = _by_alpha(chosen, len(alphas))
        predicted = _at_chosen(P, Y.index_select(1, order), blocks)
        return predicted.new_empty(predicted.shape).index_copy_(1, order, predicted)
    return (P.reshape(-1, P.shape[2]) @ Y).reshape(len(alphas), P.shape[1], Y.shape[1])


def _gamma(k: int, dtype: torch.dtype) -> float:
    r"""Higham's :math:`\gamma_k = k u / (1 - k u)`, u the unit roundoff of ``dtype``: the relative bound on the
    rounding error of a sum or inner product of k terms (Accuracy and Stability of Numerical Algorithms, 2nd ed.,
    Lemma 3.1)."""
    import torch

    u = torch.finfo(dtype).eps / 2
    return k * u / (1 - k * u)


def _low_precision(Y: torch.Tensor, fast: bool) -> torch.dtype:
    """float32 for the bulk product when ``fast`` and ``Y`` is float64, and float32 products are true float32
    (``torch.get_float32_matmul_precision() == "highest"``: TF32 or bfloat16 products would void the rounding
    bounds); else ``Y``'s own dtype."""
    import torch

    if fast and Y.dtype == torch.float64 and torch.get_float32_matmul_precision() == "highest":
        return torch.float32
    return Y.dtype


def _fold_errors(P: torch.Tensor, Y_fit: torch.Tensor, Y_out: torch.Tensor) -> torch.Tensor:
    """Squared held-out error ``(a, q)`` of one fold's operators ``P`` (a, m, n_fit): every alpha's residuals
    ``P[a] @ Y_fit - Y_out`` as one matrix product, in the dtype of the inputs."""
    a, m, n_fit = P.shape
    residual = (P.reshape(a * m, n_fit) @ Y_fit).reshape(a, m, -1)
    residual -= Y_out
    return (residual * residual).sum(1)


def _error_interval(error: torch.Tensor, p_norm: torch.Tensor, y_norm: torch.Tensor, n_fit: int, m: int,
                    low: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Interval ``(lower, upper)`` (a, q) that holds the exact squared error of a fold whose :func:`_fold_errors`
    ``error`` was computed in ``low`` precision from float64 operators and responses. Casting, the product and the
    subtraction give :math:`|\hat r - r| \le \gamma_{n_{fit}+3}\,(|P_a|\,|y_{fit}| + |y_{out}|) +
    2u|\hat r|` elementwise (Higham, eq. 3.13), so in norm :math:`\lVert\hat r - r\rVert \le \beta =
    \gamma_{n_{fit}+3}(\lVert P_a\rVert_F + 1)\lVert y\rVert + 2u\lVert\hat r\rVert` (``p_norm``: the
    Frobenius norms, ``y_norm``: each target's norm over every training row); the sum of m squares adds
    :math:`\gamma_m` relative, and :math:`\lVert r\rVert \in [\lVert\hat r\rVert - \beta,
    \lVert\hat r\rVert + \beta]`."""
    u, gamma_m = _gamma(1, low), _gamma(m, low)
    norm = error.sqrt()
    beta = _gamma(n_fit + 3, low) * (p_norm[:, None] + 1) * y_norm[None, :] + 2 * u * norm
    return (norm * (1 - gamma_m) - beta).clamp_min(0) ** 2, (norm * (1 + gamma_m) + beta) ** 2


def _unproven(chosen: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Indices of the targets whose chosen alpha's upper bound is not below every other alpha's lower bound."""
    import torch

    rivals = lower.clone()
    rivals[chosen, torch.arange(len(chosen), device=chosen.device)] = torch.inf
    return torch.nonzero(upper.gather(0, chosen[None])[0] >= rivals.min(0).values).flatten()


def ridge_kfold(bases: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                folds: Sequence[tuple[torch.Tensor, torch.Tensor]], Y: torch.Tensor, alphas: torch.Tensor, *,
                fast: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-target alpha index ``(q,)`` with the lowest squared error summed over k folds (the first alpha on
    ties), and the out-of-fold predictions ``(n, q)`` at it. ``folds`` are ``(fit, out)`` row indices into the
    training responses ``Y`` (n, q); ``bases[f]`` is :func:`kernel_eigenbasis` (or :func:`eigenbasis`) of fold f
    with the ``out`` stimuli as its test rows; alphas are absolute. One decomposition per fold serves every alpha;
    per fold the held-out residuals of every alpha are one matrix product :math:`[P_a]_a Y_{fit} - Y_{out}`
    (:func:`ridge_operators`), ``a m n q`` in all, and :math:`U^\top Y` is never formed.

    ``fast`` (float64 ``Y``): that product, nearly all of the work, runs in float32, and each target's errors get a
    rounding interval (:func:`_error_interval`); a target whose float32 choice the intervals do not prove (its
    alpha's upper bound is not below every other alpha's lower bound, each widened by float64's own rounding,
    :math:`64 n u_{64}` relative) is recomputed in float64. The chosen alphas are therefore float64's, and the
    predictions at them are computed in float64. ``fast=False``, float32 ``Y``, or float32 products allowed to
    round coarser (:func:`_low_precision`): all in ``Y``'s dtype. Memory: the operators of every fold
    (``k a m n_fit``, in float64 and float32), and targets in batches of ``BATCH_BYTES`` (``a m batch``)."""
    import torch

    n, q = Y.shape
    low = _low_precision(Y, fast)
    operators = [ridge_operators(*basis, alphas) for basis in bases]
    cheap = [(P.to(low), P.flatten(1).norm(dim=1)) for P in operators]
    batch = max(1, BATCH_BYTES // (len(alphas) * max(len(out) for _, out in folds) * Y.element_size()))
    best = torch.empty(q, dtype=torch.long, device=Y.device)
    for start in range(0, q, batch):
        Yb = Y[:, start:start + batch]
        Y_low = Yb.to(low)
        y_norm = Yb.norm(dim=0)
        total = torch.zeros((len(alphas), Yb.shape[1]), dtype=Y.dtype, device=Y.device)
        lower, upper = total.clone(), total.clone()
        for (P_low, p_norm), (fit, out) in zip(cheap, folds, strict=True):
            error = _fold_errors(P_low, Y_low[fit], Y_low[out]).to(Y.dtype)
            total += error
            if low != Y.dtype:
                bounds = _error_interval(error, p_norm, y_norm, len(fit), len(out), low)
                lower += bounds[0]
                upper += bounds[1]
        chosen = total.argmin(0)
        if low != Y.dtype:
            slack = 64 * n * _gamma(1, Y.dtype) * total  # float64's own rounding: its near-ties go to float64 too
            unproven = _unproven(chosen, lower - slack, upper + slack)
            if len(unproven):
                exact = sum(_fold_errors(P, Yb[fit][:, unproven], Yb[out][:, unproven])
                            for P, (fit, out) in zip(operators, folds, strict=True))
                chosen[unproven] = exact.argmin(0)
        chosen[(Yb == Yb[:1]).all(0)] = 0  # a constant target: every alpha predicts it exactly, the first wins
        best[start:start + batch] = chosen
    order, blocks = _by_alpha(best, len(alphas))
    Y_sorted, out_of_fold = Y.index_select(1, order), torch.empty_like(Y)
    for P, (fit, out) in zip(operators, folds, strict=True):
        out_of_fold[out] = _at_chosen(P, Y_sorted[fit], blocks)
    return best, torch.empty_like(Y).index_copy_(1, order, out_of_fold)


def least_squares(lam: torch.Tensor, U: torch.Tensor, T: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Test predictions of ordinary least squares with an intercept (minimum-norm when features > samples, as
    ``LinearRegression``), from :func:`eigenbasis`; directions with eigenvalue below ``n eps lam_max`` are dropped."""
    import torch

    y_mean = Y.mean(0)
    if lam.numel() == 0:  # constant features: the intercept is the prediction
        return y_mean.expand(T.shape[0], -1).clone()
    keep = lam > lam.max() * max(U.shape) * torch.finfo(lam.dtype).eps
    return T[:, keep] @ ((U[:, keep].T @ (Y - y_mean)) / lam[keep, None]) + y_mean


def _pls_weights(C: torch.Tensor, y_norms: torch.Tensor, algorithm: str) -> torch.Tensor:
    """Unit x-weights of one PLS component from the deflated cross-covariance ``C`` (module docstring)."""
    import torch

    if algorithm == "svd":
        if C.shape[0] <= C.shape[1]:  # top left singular vector of C, from the smaller Gram matrix
            return torch.linalg.eigh(C @ C.T)[1][:, -1]
        w = C @ torch.linalg.eigh(C.T @ C)[1][:, -1]
        return w / torch.linalg.vector_norm(w)
    start = int(torch.argmax((y_norms > torch.finfo(C.dtype).eps ** 2).to(torch.uint8)))  # first nonzero column, else 0
    w = C[:, start]
    w = w / torch.linalg.vector_norm(w)
    if C.shape[1] == 1:
        return w
    for _ in range(PLS_MAX_ITER - 1):
        new = C @ (C.T @ w)
        new = new / torch.linalg.vector_norm(new)
        converged = float(((new - w) ** 2).sum()) < PLS_TOL
        w = new
        if converged:
            break
    return w


def pearson_columns_batched(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r of ``a[k, :, j]`` with ``b[:, j]`` for each leading index k: ``(k, n, q), (n, q) -> (k, q)``."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(0)
    return (a * b).sum(1) / ((a * a).sum(1) * (b * b).sum(0)).sqrt()


def pls_fit_predict(X_train: torch.Tensor, Y_train: torch.Tensor, X_test: torch.Tensor, n_components: int,
                    algorithm: Literal["nipals", "svd"] = "nipals") -> torch.Tensor:
    """Predictions on ``X_test`` of PLS regression with ``n_components`` fitted on the training set (centred
    internally, not scaled: scikit-learn's ``PLSRegression(n_components, scale=False)``); x-weights by
    scikit-learn's power iteration (``"nipals"``) or exactly (``"svd"``), module docstring. Memory: one centred
    (n, p) copy of ``X_train``, deflated in place; the inputs are left as they were."""
    import torch

    x_mean, y_mean = X_train.mean(0), Y_train.mean(0)
    Xk = X_train - x_mean
    Y = Y_train - y_mean
    C = Xk.T @ Y  # (p, q)
    y_norms = (Y * Y).sum(0)  # squared column norms of the deflated Y_k, for NIPALS's starting column
    W, P, Q = [], [], []
    floor = 100 * torch.finfo(X_train.dtype).eps * torch.linalg.matrix_norm(C)
    for _ in range(min(n_components, *X_train.shape)):
        if torch.linalg.matrix_norm(C) <= floor:
            break  # the targets are explained: further components would be noise (scikit-learn stops too)
        w = _pls_weights(C, y_norms, algorithm)
        t = Xk @ w
        tt = t @ t
        p_load = Xk.T @ t / tt
        tY = t @ Y
        q_load = tY / tt
        Xk.addr_(t, p_load, alpha=-1)  # Xk - t p_load^T in place, on the centred copy: no (n, p) temporary
        C = C - torch.outer(p_load, tY)
        y_norms = y_norms - 2 * q_load * tY + q_load**2 * tt  # |y_j - t q_j|^2
        W.append(w), P.append(p_load), Q.append(q_load)
    if not W:  # constant features, or targets constant: the mean is the prediction
        return y_mean.expand(X_test.shape[0], -1).clone()
    W, P, Q = torch.stack(W, 1), torch.stack(P, 1), torch.stack(Q, 1)
    rotations = W @ torch.linalg.pinv(P.T @ W)  # x_rotations_
    return (X_test - x_mean) @ (rotations @ Q.T) + y_mean
