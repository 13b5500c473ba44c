"""The tuning losses against known answers: the KL distillation term and its gradient are zero at the parent, the
paper's powered probabilities equal softmax(z / T), cross-entropy and KL differ by the parent's entropy (same
gradient), values equal scipy's, and the Pearson loss equals minus scipy's mean r."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats

from brainbench.errors import ConfigError
from brainbench.tuning.losses import distillation_loss, neural_loss, paper_soft_targets


def _logits(seed=0, shape=(6, 10)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3


def test_kl_and_its_gradient_are_zero_at_the_parent():
    teacher = _logits()
    student = teacher.clone().requires_grad_(True)
    loss = distillation_loss(student, teacher, T=2)
    loss.backward()
    assert abs(float(loss.detach())) < 1e-12 and float(student.grad.abs().max()) < 1e-12
    moved = (teacher + 0.5 * _logits(1)).requires_grad_(True)
    assert float(distillation_loss(moved, teacher).detach()) > 1e-3


@pytest.mark.parametrize("T", [1.0, 2.0, 5.0])
def test_the_papers_powered_probabilities_are_softmax_over_T(T):
    z = _logits()
    torch.testing.assert_close(paper_soft_targets(torch.softmax(z, dim=1), T), torch.softmax(z / T, dim=1))


def test_values_equal_scipy_and_ce_differs_from_kl_by_the_parents_entropy_with_the_same_gradient():
    teacher, student = _logits(0), _logits(2)
    T = 2.0
    p = special.softmax(teacher.numpy() / T, axis=1)
    q = special.softmax(student.numpy() / T, axis=1)
    kl = special.rel_entr(p, q).sum(axis=1).mean()
    assert float(distillation_loss(student, teacher, T=T, t_squared=False)) == pytest.approx(kl, rel=1e-10)
    assert float(distillation_loss(student, teacher, T=T)) == pytest.approx(T * T * kl, rel=1e-10)
    ce = -(p * np.log(q)).sum(axis=1).mean()
    assert float(distillation_loss(student, teacher, T=T, form="ce", t_squared=False)) == pytest.approx(ce, rel=1e-10)
    entropy = stats.entropy(p, axis=1).mean()
    assert ce - kl == pytest.approx(entropy, rel=1e-9)
    grads = []
    for form in ("kl", "ce"):
        s = student.clone().requires_grad_(True)
        distillation_loss(s, teacher, T=T, form=form).backward()
        grads.append(s.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_neural_losses_equal_their_definitions():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(20, 4))
    predicted = target * [1, 2, -1, 0.5] + rng.normal(size=(20, 4))
    p, t = torch.from_numpy(predicted), torch.from_numpy(target)
    assert float(neural_loss(p, t)) == pytest.approx(((predicted - target) ** 2).mean())
    r = [stats.pearsonr(predicted[:, i], target[:, i])[0] for i in range(4)]
    assert float(neural_loss(p, t, "pearson")) == pytest.approx(-np.mean(r), rel=1e-10)


def test_bad_input_is_refused():
    z = _logits()
    with pytest.raises(ConfigError, match="temperature T must be a positive number"):
        distillation_loss(z, z, T=0)
    with pytest.raises(ConfigError, match="form 'js' is not"):
        distillation_loss(z, z, form="js")
    with pytest.raises(ConfigError, match=r"both be \(batch, classes\)"):
        distillation_loss(z, z[:, :5])
    with pytest.raises(ConfigError, match="2 or more stimuli"):
        neural_loss(z[:1], z[:1], "pearson")
    with pytest.raises(ConfigError, match="'mae' is not"):
        neural_loss(z, z, "mae")
