"""Statistics of a layer's feature space, recorded beside its scores (as DeepJuice records them).

For features X (n stimuli x p units) centred over stimuli, with eigenvalues lambda of their
covariance (equally, of the centred n x n Gram matrix G = X_c X_c^T):

- effective dimensionality ED = (sum lambda)^2 / sum lambda^2 = tr(G)^2 / |G|_F^2 (1 for a single
  direction, min(n, p) for isotropic features), no eigendecomposition needed;
- sparsity: the fraction of activations that are exactly zero (e.g. after a ReLU);
- the number of features p.
"""

from __future__ import annotations

import numpy as np

__all__ = ["feature_statistics"]


def feature_statistics(X, *, device: str | None = None) -> dict[str, float | int]:
    """``n_features``, ``effective_dimensionality`` and ``sparsity`` of features ``X`` (n, ...)."""
    import torch

    from ..device import pick_device

    X = np.asarray(X)
    X = X.reshape(len(X), -1)
    t = torch.from_numpy(np.require(X, np.float32, "W")).to(pick_device(device))  # read-only cache: copied
    centred = t - t.mean(0)
    gram = (centred @ centred.T).double()
    total = torch.trace(gram)
    ed = float(total**2 / (gram * gram).sum()) if total > 0 else 0.0
    return {"n_features": int(X.shape[1]), "effective_dimensionality": ed, "sparsity": float((X == 0).mean())}
