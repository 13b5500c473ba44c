r"""Sparse dictionary features: a top-k sparse autoencoder (SAE) over a layer's activations.

The monosemanticity approach (Bricken et al. 2023; the top-k form of Gao et al. 2024, arXiv 2406.04093): with
activations :math:`x \in \mathbb{R}^d` and an overcomplete dictionary of :math:`m` features,

.. math::

    z = \mathrm{TopK}_k\big(\mathrm{ReLU}(W_{enc}(x - b_{dec}) + b_{enc})\big),\qquad
    \hat x = W_{dec} z + b_{dec},\qquad \mathcal{L} = \lVert \hat x - x \rVert^2

trained with Adam on seeded minibatches; the decoder's columns are put back to unit norm after every step (so
sparsity cannot be bought by scaling), the encoder starts as the decoder's transpose and ``b_dec`` at the data
mean. A feature that has not fired for ``dead_after`` steps is dead; every ``dead_after`` steps the dead ones are
resampled towards inputs the SAE reconstructs worst (drawn with probability proportional to their squared error).
A non-finite loss stops training with :class:`~brainbench.errors.ConfigError` naming the step and the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_count, check_seed
from ..device import pick_device
from ..errors import ConfigError

__all__ = ["SparseAutoencoder", "train_sae"]


@dataclass
class SparseAutoencoder:
    """A trained top-k SAE: ``W_enc`` (m, d), ``b_enc`` (m,), ``W_dec`` (d, m) with unit-norm columns, ``b_dec``
    (d,), torch tensors on the CPU; with its training record: ``dead`` features at the end, reconstruction
    ``r2`` (1 - residual / total sum of squares over the training activations) and ``l0`` (mean active features)."""

    W_enc: Any
    b_enc: Any
    W_dec: Any
    b_dec: Any
    k: int
    steps: int
    dead: int
    r2: float
    l0: float

    def encode(self, X: Any) -> Any:
        """Feature activations ``(n, m)`` of activations ``X`` ``(n, d)`` (at most k non-zero per row)."""
        import torch

        x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
        return _encode(x, self.W_enc, self.b_enc, self.b_dec, self.k)

    def decode(self, Z: Any) -> Any:
        return Z @ self.W_dec.T + self.b_dec


def _encode(x: Any, W_enc: Any, b_enc: Any, b_dec: Any, k: int) -> Any:
    import torch

    pre = torch.relu((x - b_dec) @ W_enc.T + b_enc)
    values, index = pre.topk(k, dim=1)
    return torch.zeros_like(pre).scatter(1, index, values)


def train_sae(X: Any, n_features: int, k: int, *, steps: int = 3000, batch_size: int = 256, lr: float = 3e-3,
              dead_after: int = 200, seed: int = 0, device: str | None = None) -> SparseAutoencoder:
    """Train a top-``k`` SAE with ``n_features`` features on activations ``X`` ``(n, d)`` (module docstring).
    Raises :class:`~brainbench.errors.ConfigError` for k outside 1..n_features, non-finite activations, or a
    loss that diverges (the step and the loss named: lower ``lr``)."""
    import torch

    x_all = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
    if x_all.ndim != 2 or len(x_all) < 2:
        raise ConfigError(f"SAE activations must be (samples >= 2, dimensions); got shape {tuple(x_all.shape)}")
    if not torch.isfinite(x_all).all():
        raise ConfigError("SAE activations hold non-finite values; check the layer's features")
    m = check_count(n_features, "SAE features")
    if not 1 <= check_count(k, "SAE k (active features)") <= m:
        raise ConfigError(f"SAE k = {k} must be between 1 and the number of features ({m})")
    steps, batch_size, dead_after = (check_count(steps, "SAE steps"), check_count(batch_size, "SAE batch size"),
                                     check_count(dead_after, "SAE dead_after"))
    device = pick_device(device)
    g = torch.Generator().manual_seed(check_seed(seed, "SAE seed"))
    x_all = x_all.to(device)
    W_dec = torch.nn.functional.normalize(torch.randn(x_all.shape[1], m, generator=g), dim=0).to(device)
    W_dec.requires_grad_()
    W_enc = W_dec.detach().T.clone().requires_grad_()
    b_enc = torch.zeros(m, device=device, requires_grad=True)
    b_dec = x_all.mean(0).clone().requires_grad_()
    optimiser = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    last_fired = torch.zeros(m, device=device)
    for step in range(steps):
        batch = x_all[torch.randint(0, len(x_all), (batch_size,), generator=g).to(device)]
        z = _encode(batch, W_enc, b_enc, b_dec, k)
        residual = z @ W_dec.T + b_dec - batch
        loss = (residual ** 2).sum(1).mean()
        if not torch.isfinite(loss):
            raise ConfigError(f"the SAE diverged at step {step} (loss {float(loss.detach())}); lower lr (now {lr:g})")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            W_dec.data = torch.nn.functional.normalize(W_dec.data, dim=0)
            last_fired[(z > 0).any(0)] = step
            dead = (step - last_fired) >= dead_after
            if (step + 1) % dead_after == 0 and dead.any():
                errors = (residual ** 2).sum(1)
                pick = torch.multinomial(errors.cpu() + 1e-12, int(dead.sum()), replacement=True, generator=g)
                directions = torch.nn.functional.normalize(batch[pick.to(device)] - b_dec, dim=1)
                W_dec.data[:, dead] = directions.T
                W_enc.data[dead] = directions * 0.2
                b_enc.data[dead] = 0
                last_fired[dead] = step
    with torch.no_grad():
        z = _encode(x_all, W_enc, b_enc, b_dec, k)
        residual = ((z @ W_dec.T + b_dec - x_all) ** 2).sum()
        total = ((x_all - x_all.mean(0)) ** 2).sum()
        fired = (z > 0).any(0)
    return SparseAutoencoder(W_enc=W_enc.detach().cpu(), b_enc=b_enc.detach().cpu(), W_dec=W_dec.detach().cpu(),
                             b_dec=b_dec.detach().cpu(), k=k, steps=steps, dead=int((~fired).sum()),
                             r2=float(1 - residual / total), l0=float((z > 0).sum(1).float().mean()))
