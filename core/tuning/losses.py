r"""The losses of tuning toward the brain: the neural loss of a readout's predictions, and the distillation loss of
Learning without Forgetting (Li & Hoiem 2017, arXiv 1606.09282) that keeps the parent network's outputs.

**Neural loss** of predictions :math:`\hat Y` against responses :math:`Y` (``(stimuli, neuroids)``): ``"mse"``, the
mean squared error over all entries; ``"pearson"``, minus the mean over neuroids of the Pearson r across the batch's
stimuli (scale-free per neuroid, as the encoding score is; needs 2 or more stimuli per batch).

**Distillation.** With temperature ``T``, :math:`p = \mathrm{softmax}(z_{parent}/T)` and :math:`q =
\mathrm{softmax}(z/T)`:

- ``"kl"`` (the default): :math:`\mathrm{KL}(p\,\Vert\,q) = \sum_i p_i \log(p_i / q_i)`, zero, with zero gradient,
  while the tuned network's outputs equal the parent's, so its value reads directly as how far the network has moved
  from the parent;
- ``"ce"`` (the paper's form): :math:`-\sum_i p_i \log q_i`. Li & Hoiem write the recorded probabilities as
  :math:`y'_i = y_i^{1/T} / \sum_j y_j^{1/T}` with :math:`y = \mathrm{softmax}(z_{parent})`, which equals
  :math:`\mathrm{softmax}(z_{parent}/T)` (:func:`paper_soft_targets`). It differs from ``"kl"`` by the parent's
  entropy, a constant: the two have the same gradient.

Both are averaged over the batch and, with ``t_squared`` (Hinton et al. 2015, arXiv 1503.02531), multiplied by
:math:`T^2` so that their gradients keep the scale of a hard-label loss as T changes; Li & Hoiem do not apply the
factor (their λ absorbs it). The defaults are T = 2 (the paper's) and ``t_squared=True``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..errors import ConfigError

__all__ = ["distillation_loss", "label_free_cost", "neural_loss", "paper_soft_targets"]


def paper_soft_targets(probabilities: torch.Tensor, T: float) -> torch.Tensor:
    """Li & Hoiem's modified recorded probabilities :math:`y_i^{1/T} / \\sum_j y_j^{1/T}` of ``probabilities``
    ``(batch, classes)`` (each row summing to 1): equal to ``softmax(logits / T)`` for ``probabilities =
    softmax(logits)``."""
    powered = probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny) ** (1 / T)
    return powered / powered.sum(dim=-1, keepdim=True)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, *, T: float = 2.0,
                      form: Literal["kl", "ce"] = "kl", t_squared: bool = True) -> torch.Tensor:
    """The distillation loss of ``student`` logits against the frozen ``teacher``'s (both ``(batch, classes)``),
    softened by ``T`` (module docstring), averaged over the batch. The teacher gets no gradient. Raises ConfigError
    for T <= 0, an unknown form, or logits of different shapes."""
    if not (math.isfinite(T) and T > 0):
        raise ConfigError(f"the temperature T must be a positive number; got {T!r}")
    if form not in ("kl", "ce"):
        raise ConfigError(f"distillation form {form!r} is not 'kl' or 'ce'")
    if student.shape != teacher.shape or student.ndim != 2:
        raise ConfigError(f"student and teacher logits must both be (batch, classes); got {tuple(student.shape)} and "
                          f"{tuple(teacher.shape)}")
    log_q = torch.log_softmax(student / T, dim=-1)
    log_p = torch.log_softmax(teacher.detach() / T, dim=-1)
    p = log_p.exp()
    per_item = (p * (log_p - log_q)).sum(dim=-1) if form == "kl" else -(p * log_q).sum(dim=-1)
    loss = per_item.mean()
    return loss * T * T if t_squared else loss


def neural_loss(predicted: torch.Tensor, target: torch.Tensor, kind: Literal["mse", "pearson"] = "mse") -> torch.Tensor:
    """The neural loss of ``predicted`` against ``target`` responses, both ``(stimuli, neuroids)`` (module
    docstring). Raises ConfigError for an unknown kind, mismatched shapes, or a Pearson loss over fewer than 2
    stimuli."""
    if predicted.shape != target.shape or predicted.ndim != 2:
        raise ConfigError(f"predictions and responses must both be (stimuli, neuroids); got {tuple(predicted.shape)} "
                          f"and {tuple(target.shape)}")
    if kind == "mse":
        return ((predicted - target) ** 2).mean()
    if kind != "pearson":
        raise ConfigError(f"neural loss {kind!r} is not 'mse' or 'pearson'")
    if predicted.shape[0] < 2:
        raise ConfigError("a Pearson loss needs 2 or more stimuli per batch; raise the batch size")
    a = predicted - predicted.mean(dim=0)
    b = target - target.mean(dim=0)
    eps = torch.finfo(a.dtype).eps
    r = (a * b).sum(dim=0) / (a.norm(dim=0) * b.norm(dim=0)).clamp_min(eps)
    return -r.mean()


def label_free_cost(tuned: torch.Tensor, parent: torch.Tensor) -> dict[str, float]:
    """What tuning cost on the parent's task without its labels, from both networks' class logits on the same held-out
    stimuli (shape ``(n, classes)``): ``kl_from_parent``, the mean KL(parent || tuned) of their softmax outputs at
    T = 1 (nats; 0 when the outputs are equal), and ``top1_agreement``, the fraction of stimuli whose top-1 class is
    the parent's. Raises ConfigError when the shapes differ or are not 2-D."""
    if tuned.ndim != 2 or tuned.shape != parent.shape:
        from ..errors import ConfigError

        raise ConfigError(f"label-free cost needs class logits of one shape (n, classes) from both networks; got "
                          f"{tuple(tuned.shape)} and {tuple(parent.shape)}")
    tuned, parent = tuned.float(), parent.float()
    return {"kl_from_parent": float(distillation_loss(tuned, parent, T=1.0, t_squared=False)),
            "top1_agreement": float((tuned.argmax(1) == parent.argmax(1)).float().mean())}
