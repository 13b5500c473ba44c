"""The Fastfood transform and the low-dimensional reparameterisation, against known answers: the Walsh–Hadamard
transform of a hand-computed vector and scipy's Hadamard matrix, P against the dense matrix built column by column,
unit column norms, exact gradients, and Li et al. 2018's toy problem of intrinsic dimension exactly 10."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import hadamard

from brainbench.errors import ConfigError
from brainbench.tuning.fastfood import FastfoodProjection, LowDimensional, fwht
from helpers.toys import GroupSums


def test_fwht_known_answer_and_scipy_hadamard():
    x = torch.tensor([1.0, 0, 1, 0, 0, 1, 1, 0])
    assert fwht(x).tolist() == [4, 2, 0, -2, 0, 2, 0, 2]
    batch = torch.randn(3, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(fwht(batch).numpy(), batch.numpy() @ hadamard(32).T, atol=1e-12)
    np.testing.assert_allclose(fwht(fwht(batch)).numpy(), 32 * batch.numpy(), atol=1e-12)  # H H = L I
    with pytest.raises(ConfigError, match="power-of-two length; got 12"):
        fwht(torch.zeros(12))
    # every factorisation: one factor (1, 2, 32), two (64, 1024: the last axis as one GEMM), three (2048 = 16 x 16 x 8)
    rng = torch.Generator().manual_seed(1)
    for n in (1, 2, 64, 1024, 2048):
        xs = torch.randn(2, 3, n, generator=rng, dtype=torch.float64)
        np.testing.assert_allclose(fwht(xs).numpy(), xs.numpy() @ hadamard(n).T, atol=1e-9, err_msg=f"L = {n}")
    assert torch.autograd.gradcheck(fwht, (torch.randn(2, 64, generator=rng, dtype=torch.float64, requires_grad=True),))


@pytest.mark.parametrize(("d", "D"), [(10, 1000), (37, 1000), (64, 4096), (1, 50)])
def test_projection_equals_its_dense_matrix_with_unit_columns(d, D):
    projection = FastfoodProjection(d, D, seed=3).double()
    dense = projection.dense()
    assert dense.shape == (D, d)
    L = projection.L
    H = hadamard(L).astype(np.float64)
    blocks = []
    for signs, permutation, gains in zip(projection.signs.numpy(), projection.permutation.numpy(),
                                         projection.gains.numpy(), strict=True):  # H G Pi H S, matrix by matrix
        Pi = np.eye(L)[permutation]  # (Pi x)_i = x_perm(i)
        blocks.append(H @ np.diag(gains) @ Pi @ H @ np.diag(signs))
    np.testing.assert_allclose(dense.numpy(), np.vstack(blocks)[:D, :d], rtol=1e-9, atol=1e-12)
    z = torch.randn(d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    np.testing.assert_allclose(projection(z).numpy(), (dense @ z).numpy(), rtol=1e-10, atol=1e-12)
    norms = dense.norm(dim=0).numpy()
    np.testing.assert_allclose(norms, 1, rtol=0.01)
    if D % projection.L == 0:
        np.testing.assert_allclose(norms, 1, rtol=1e-6)  # whole blocks: unit norm up to float32 rounding of the gains
    assert abs(np.corrcoef(dense.numpy().T)[np.triu_indices(d, 1)]).mean() < 0.1 if d > 1 else True
    again = FastfoodProjection(d, D, seed=3).double().dense()
    assert torch.equal(again, dense) and not torch.equal(FastfoodProjection(d, D, seed=4).double().dense(), dense)


def test_gradients_are_exact():
    projection = FastfoodProjection(6, 40, seed=0).double()
    z = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(projection, (z,))
    upstream = torch.randn(40, dtype=torch.float64)
    (projection(z) @ upstream).backward()
    np.testing.assert_allclose(z.grad.numpy(), (projection.dense().T @ upstream).numpy(), rtol=1e-10)


def test_bad_dimensions_are_refused():
    with pytest.raises(ConfigError, match="d = 11 is larger than the D = 10 parameters"):
        FastfoodProjection(11, 10)
    with pytest.raises(ConfigError, match="d"):
        FastfoodProjection(0, 10)
    net = torch.nn.Linear(3, 2)
    with pytest.raises(ConfigError, match="d = 2 leaves no dimension for z beside the 2 SAID scales"):
        LowDimensional(net, 2, groups=[["weight"], ["bias"]])
    with pytest.raises(ConfigError, match="parameter 'bias' is in 0 SAID groups"):
        LowDimensional(net, 4, groups=[["weight"]])
    with pytest.raises(ConfigError, match="no parameter of the module matches"):
        LowDimensional(net, 4, parameters=["conv*"])
    with pytest.raises(ConfigError, match="d = 9 is larger than the D = 8"):
        LowDimensional(net, 9)


def test_low_dimensional_starts_at_the_module_and_trains_only_z_and_the_scales():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(7, 5)
    low = LowDimensional(net, 6, groups=[["0.*"], ["2.*"]], seed=1)
    assert low.D == 5 * 4 + 4 + 4 * 2 + 2 and low.z.shape == (4,) and low.scales.tolist() == [1, 1]
    assert [n for n, p in low.named_parameters() if p.requires_grad] == ["z", "scales"]
    torch.testing.assert_close(low(x), net(x))
    optimiser = torch.optim.Adam([low.z, low.scales], lr=0.05)
    target = torch.randn(7, 2)
    for _ in range(30):
        optimiser.zero_grad()
        loss = ((low(x) - target) ** 2).mean()
        loss.backward()
        optimiser.step()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the module itself is untouched
    state = low.tuned_state()
    moved = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    moved.load_state_dict(state)
    torch.testing.assert_close(moved(x), low(x).detach())
    delta = torch.cat([(state[k] - before[k]).reshape(-1) for k in ("0.weight", "0.bias", "2.weight", "2.bias")])
    P = low.projection.dense()
    scale = torch.cat([low.scales[0].detach().expand(24), low.scales[1].detach().expand(10)])
    torch.testing.assert_close(delta, scale * (P @ low.z.detach()), rtol=1e-5, atol=1e-6)


def _best_loss(d: int, target: torch.Tensor) -> float:
    low = LowDimensional(GroupSums(), d, seed=d).double()
    optimiser = torch.optim.LBFGS([low.z], lr=1, max_iter=200, tolerance_grad=1e-14, tolerance_change=1e-16,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = ((low() - target) ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(((low() - target) ** 2).sum().detach())


def test_li_et_al_toy_problem_has_intrinsic_dimension_exactly_ten():
    target = torch.arange(10, dtype=torch.float64)
    initial = float(((GroupSums()() - target) ** 2).sum().detach())
    losses = {d: _best_loss(d, target) for d in range(6, 14)}
    solved = [d for d, loss in losses.items() if loss < 1e-10 * initial]
    assert min(solved) == 10 and solved == list(range(10, 14)), losses
    assert all(losses[d] > 1e-3 * initial for d in range(6, 10)), losses
