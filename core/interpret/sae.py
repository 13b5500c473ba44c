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

:func:`train_layer_sae` trains one on a model's layer over a probe set (through the extraction engine) and stores it,
making ``<layer>:sae<K>`` a layer of the model (:mod:`brainbench.extraction.sae_layer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_count, check_seed
from ..device import pick_device
from ..errors import ConfigError, DataFileError
from ..extraction.sae_layer import sae_encode

__all__ = ["SparseAutoencoder", "train_layer_sae", "train_sae"]


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
    return sae_encode(x, W_enc, b_enc, b_dec, k)  # the encoder extraction applies to an L:saeK layer


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


TRAINING = ("weights_hash", "layer", "features", "active", "readout", "steps", "seed", "lr", "batch_size",
            "max_vectors", "probe")  # the settings that make two trainings the same


def train_layer_sae(model: Any, stimuli: Any, layer: str, n_features: int, k: int, *, steps: int = 2000,
                    seed: int = 0, readout: str = "positions", max_vectors: int = 100_000, batch_size: int = 256,
                    lr: float = 3e-3, overwrite: bool = False, device: str | None = None, progress: bool = False,
                    **options: Any) -> tuple[Any, bool]:
    """Train a top-``k`` SAE of ``n_features`` features on ``layer``'s activations over the probe ``stimuli`` and
    store it, making ``layer:sae<n_features>`` a layer of ``model`` (:mod:`brainbench.extraction.sae_layer`).

    The activations come through the extraction engine (its cache, device and memory limit; ``options`` are
    extraction options, a reduction refused). A convolutional layer ``(C, H, W)`` gives, with ``readout =
    "positions"`` (the default), the channel vector at every position of every stimulus (so the SAE is over the
    C channels and its features keep the spatial map), a seeded sample (``numpy.random.default_rng(seed)``, without
    replacement) of ``max_vectors`` of them where there are more; with ``readout="mean"``, each stimulus's spatial
    mean. Any other layer gives each stimulus's flattened output. Training: :func:`train_sae` with ``steps``,
    ``batch_size``, ``lr`` and ``seed``.

    Returns the :class:`~brainbench.extraction.sae_layer.StoredSAE` (its card: dead features, R², L0 on the
    training vectors) and whether it was reused: an SAE stored for (model, layer, K) with the same settings, the
    same weights and the same probe stimuli is returned as it is (trained again if its weights file no longer
    matches its card); one with other settings is a ConfigError naming them, unless ``overwrite``. Raises ConfigError for a readout not in ``positions``/``mean``, an SAE layer or a
    token sequence as ``layer``, and the errors of :func:`train_sae` (nothing is stored then);
    UnknownNameError for a layer the model does not have."""
    import datetime as dt
    import hashlib

    from .._version import __version__
    from ..extraction.plan import plan_extraction
    from ..extraction.run import extract
    from ..extraction.sae_layer import READOUTS, layout_of, parse_sae_layer, sae_folder, save_sae, find_sae

    m, k = check_count(n_features, "SAE features"), check_count(k, "SAE k (active features)")
    if not 1 <= k <= m:
        raise ConfigError(f"SAE k = {k} must be between 1 and the number of features ({m})")
    if readout not in READOUTS:
        raise ConfigError(f"SAE readout {readout!r} is not one of {', '.join(READOUTS)}")
    if options.get("reduce") not in (None, "none"):
        raise ConfigError(f"reduce={options['reduce']!r}: an SAE is trained on the layer's own units; leave the "
                          "reduction out")
    if parse_sae_layer(layer) is not None:
        raise ConfigError(f"{layer!r} is an SAE layer; train the SAE on a layer of the model itself")
    max_vectors, seed = check_count(max_vectors, "SAE max_vectors", minimum=2), check_seed(seed, "SAE seed")
    plan = plan_extraction(model, stimuli, [layer], device=device, **options)
    info = plan.layers[0].info
    layout = layout_of(info, model.label)
    ids = hashlib.sha256("\n".join(stimuli.ids).encode()).hexdigest()
    card = {"model": model.label, "weights": model.weights, "weights_hash": plan.identity["weights_hash"],
            "layer": info.name, "base_shape": list(info.shape), "layout": layout,
            "readout": readout if layout == "map" else "vector", "features": m, "active": k,
            "dimensions": info.shape[0] if layout == "map" else info.units, "steps": check_count(steps, "SAE steps"),
            "seed": seed, "lr": float(lr), "batch_size": check_count(batch_size, "SAE batch size"),
            "max_vectors": max_vectors,
            "probe": {"n_stimuli": len(stimuli), "ids_sha256": "sha256:" + ids, "content_hash": stimuli.content_hash()}}
    if (sae_folder(model.label, info.name, m) / "card.json").is_file():
        stored = find_sae(model.label, info.name, m)
        changed = [key for key in TRAINING if stored.card.get(key) != card[key]]
        if not changed:
            try:
                stored.verify()
                return stored, True
            except DataFileError:  # its weights changed on disk: trained again below, replacing them
                pass
        if changed and not overwrite:
            raise ConfigError(f"an SAE {stored.name} of {model.label} is already stored ({stored.folder}), "
                              f"trained with other {', '.join(changed)} (" + "; ".join(
                                  f"{key}: {stored.card.get(key)!r}, now {card[key]!r}" for key in changed[:3]) +
                              "); pass --overwrite (overwrite=True) to replace it, or keep it and use it as it is")
    features = extract(model, stimuli, [info.name], progress=progress, device=device, **options)[info.name]
    vectors = _training_vectors(features.data, tuple(info.shape), layout, readout, max_vectors, seed)
    sae = train_sae(vectors, m, k, steps=card["steps"], batch_size=card["batch_size"], lr=lr, seed=seed,
                    device=device)
    card.update(n_vectors=len(vectors), dead=sae.dead, r2=sae.r2, l0=sae.l0, brainbench=__version__,
                probe_identifier=str(getattr(stimuli, "identifier", "")),
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    weights = {"W_enc": sae.W_enc, "b_enc": sae.b_enc, "W_dec": sae.W_dec, "b_dec": sae.b_dec}
    return save_sae(weights, card), False


def _training_vectors(data: Any, shape: tuple[int, ...], layout: str, readout: str, max_vectors: int, seed: int,
                      batch: int = 256) -> np.ndarray:
    """The SAE's training vectors from a layer's features ``data`` (stimuli, units), read in batches of stimuli:
    (see :func:`train_layer_sae`) a seeded sample of per-position channel vectors, spatial means, or rows."""
    n = data.shape[0]
    if layout == "map" and readout == "positions":
        c, positions = shape[0], shape[1] * shape[2]
        total = n * positions
        chosen = (np.arange(total) if total <= max_vectors
                  else np.sort(np.random.default_rng(seed).choice(total, size=max_vectors, replace=False)))
        out = np.empty((len(chosen), c), dtype=np.float32)
        for start in range(0, n, batch):
            rows = np.asarray(data[start:start + batch], dtype=np.float32).reshape(-1, c, positions)
            lo, hi = np.searchsorted(chosen, [start * positions, min(n, start + batch) * positions])
            picked = chosen[lo:hi]
            out[lo:hi] = rows[picked // positions - start, :, picked % positions]
        return out
    rows = np.concatenate([np.asarray(data[s:s + batch], dtype=np.float32) for s in range(0, n, batch)])
    return rows.reshape(n, shape[0], -1).mean(2) if layout == "map" else rows
