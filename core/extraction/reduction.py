"""On-the-fly feature reduction, so that huge layers never materialise in full.

- ``srp:K`` — sparse random projection to K dimensions (Li, Hastie & Church 2006; density
  1/sqrt(D)): ``z = x Rᵀ`` with R (K × D) drawn by scikit-learn's ``SparseRandomProjection``
  from the seed, applied batch by batch on the extraction device.
- ``pca:K`` — principal components fitted on a seeded subset of the stimuli (scikit-learn's
  ``PCA``), then ``z = (x - μ) Wᵀ`` applied batch by batch to every stimulus.

Layers with at most K units are kept whole.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..checks import check_seed
from ..errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["Projector", "ReductionSpec", "fit_indices", "fit_pca", "fit_srp"]

DEFAULT_FIT_SIZE = 1000


@dataclass(frozen=True)
class ReductionSpec:
    """How to reduce a layer: method, number of components, seed, and (PCA) how many stimuli to fit on."""

    method: Literal["srp", "pca"]
    n_components: int
    seed: int = 0
    fit_size: int = DEFAULT_FIT_SIZE

    @classmethod
    def parse(cls, text: str, *, seed: int = 0) -> ReductionSpec:
        """``srp:4096`` or ``pca:500`` (optionally ``pca:500/2000`` to fit on 2000 stimuli)."""
        match = re.fullmatch(r"(srp|pca):(\d+)(?:/(\d+))?", text.strip().lower())
        if not match or int(match.group(2)) < 1 or (match.group(1) == "srp" and match.group(3)):
            raise ConfigError(f"reduction {text!r} is not understood: write srp:K or pca:K[/FIT] with K components, "
                              "e.g. srp:4096 or pca:500/2000")
        fit = int(match.group(3)) if match.group(3) else DEFAULT_FIT_SIZE
        if fit < 1:
            raise ConfigError(f"reduction {text!r} fits PCA on {fit} stimuli; write pca:K/N with N >= K stimuli, or "
                              "leave /N out to fit on up to 1000")
        seed = check_seed(seed, "reduction seed")
        return cls(match.group(1), int(match.group(2)), seed, fit)  # type: ignore[arg-type]

    def applies_to(self, units: int) -> bool:
        return units > self.n_components

    def key(self) -> dict:
        out = {"method": self.method, "n_components": self.n_components, "seed": self.seed}
        return out | ({"fit_size": self.fit_size} if self.method == "pca" else {})

    def __str__(self) -> str:
        fit = f"/{self.fit_size}" if self.method == "pca" else ""
        return f"{self.method}:{self.n_components}{fit} (seed {self.seed})"


class Projector:
    """``z = (x - mean) @ Mᵀ`` for a batch ``x`` of flattened features, on the extraction device."""

    def __init__(self, matrix: torch.Tensor, mean: torch.Tensor | None = None, *, sparse: bool = False):
        self.matrix, self.mean, self.sparse = matrix, mean, sparse

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        x = x.float()
        if self.mean is not None:
            x = x - self.mean
        if self.sparse:  # sparse @ dense is the supported order
            return torch.sparse.mm(self.matrix, x.T).T
        return x @ self.matrix.T


def fit_srp(n_features: int, spec: ReductionSpec, device: str) -> Projector:
    """The seeded sparse random projection D -> K (scikit-learn draws the matrix)."""
    import torch
    from sklearn.exceptions import DataDimensionalityWarning
    from sklearn.random_projection import SparseRandomProjection

    srp = SparseRandomProjection(n_components=spec.n_components, density="auto", random_state=spec.seed)
    with warnings.catch_warnings():  # projecting a small layer up is deliberate where asked for (eReg)
        warnings.simplefilter("ignore", DataDimensionalityWarning)
        srp.fit(np.zeros((1, n_features), dtype=np.float32))
    r = srp.components_.tocoo().astype(np.float32)
    indices = torch.from_numpy(np.vstack([r.row, r.col]).astype(np.int64))
    matrix = torch.sparse_coo_tensor(indices, torch.from_numpy(r.data), size=r.shape, check_invariants=True)
    return Projector(matrix.coalesce().to(device), sparse=True)


def fit_pca(sample: np.ndarray, spec: ReductionSpec, device: str, *, layer: str) -> Projector:
    """Principal components of ``sample`` (stimuli × units), fitted with scikit-learn."""
    import torch
    from sklearn.decomposition import PCA

    if spec.n_components > min(sample.shape):
        raise ConfigError(
            f"pca:{spec.n_components} for layer {layer!r} needs at least {spec.n_components} stimuli to fit on, "
            f"but has {sample.shape[0]}; use fewer components or srp:{spec.n_components}"
        )
    pca = PCA(n_components=spec.n_components, random_state=spec.seed).fit(sample)
    return Projector(torch.from_numpy(pca.components_.astype(np.float32)).to(device),
                     torch.from_numpy(pca.mean_.astype(np.float32)).to(device))


def fit_indices(n: int, spec: ReductionSpec) -> np.ndarray:
    """The stimuli (sorted positions) a PCA is fitted on: a seeded subset of ``fit_size``, or all."""
    if n <= spec.fit_size:
        return np.arange(n)
    return np.sort(np.random.default_rng(spec.seed).choice(n, size=spec.fit_size, replace=False))
