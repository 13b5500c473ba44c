"""The top-k sparse autoencoder recovers a known overcomplete dictionary from sparse combinations of its atoms,
keeps its decoder columns unit-norm, reports what it was trained to, and stops with the step when it diverges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.errors import ConfigError
from brainbench.interpret.sae import train_sae


def _sparse_data(d=32, m=64, n=8192, active=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(torch.randn(d, m, generator=g), dim=0)
    index = torch.stack([torch.randperm(m, generator=g)[:active] for _ in range(n)])
    codes = torch.zeros(n, m).scatter(1, index, torch.rand(n, active, generator=g) + 0.5)
    return codes @ atoms.T, atoms


def test_the_sae_recovers_the_dictionary_the_data_were_made_from():
    X, atoms = _sparse_data()
    sae = train_sae(X, 64, 3, steps=3000, seed=1)
    cosines = (atoms.T @ sae.W_dec).max(dim=1).values  # each true atom's best learned feature
    assert cosines.mean() >= 0.9
    torch.testing.assert_close(sae.W_dec.norm(dim=0), torch.ones(64))
    assert sae.l0 <= 3 and sae.r2 > 0.9
    z = sae.encode(X[:10])
    assert ((z > 0).sum(1) <= 3).all()
    recon = sae.decode(z)
    assert float(((recon - X[:10]) ** 2).sum() / ((X[:10] - X.mean(0)) ** 2).sum()) < 0.2


def test_sae_bad_input_and_divergence():
    X, _ = _sparse_data(n=64)
    with pytest.raises(ConfigError, match="k = 9 must be between 1 and the number of features \\(8\\)"):
        train_sae(X, 8, 9)
    bad = X.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ConfigError, match="non-finite"):
        train_sae(bad, 8, 2)
    with pytest.raises(ConfigError, match=r"the SAE diverged at step \d+ \(loss (inf|nan)\); lower lr"):
        train_sae(X * 1e30, 8, 2, steps=50, lr=1e30)
