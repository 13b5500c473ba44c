r"""Sparse dictionary features as a layer of the model: ``<layer>:sae<K>``.

A stored top-k sparse autoencoder (trained by :func:`brainbench.interpret.sae.train_layer_sae`, or
``brainbench sae train``) over layer ``L`` of a model, with ``K`` features, makes ``L:saeK`` a layer like any
other: extraction hooks ``L``, and on the captured tensor (on the extraction device) applies the SAE's encoder

.. math::

    z = \mathrm{TopK}_k\big(\mathrm{ReLU}(W_{enc}(x - b_{dec}) + b_{enc})\big)

(Gao et al. 2024) to each of its vectors ``x``:

- a convolutional map ``(C, H, W)`` with the SAE trained on ``positions`` (the default): the channel vector at
  every position, so the features keep the spatial map, shape ``(K, H, W)``;
- a convolutional map with the SAE trained on the ``mean`` readout: the channels' spatial mean, shape ``(K,)``;
- any other layer (``vector``): the flattened output, shape ``(K,)``.

Token sequences (transformer layers) are not supported yet: naming one is a ConfigError.

Storage: ``<data home>/sae/<model label>/<layer>/sae<K>/`` holds ``weights.safetensors`` (``W_enc`` (K, d),
``b_enc`` (K,), ``W_dec`` (d, K), ``b_dec`` (d,), float32) and ``card.json`` (model, weights hash, layer, K,
active k, readout, probe set, seed, steps, dead features, R², L0, brainbench version, and the sha256 of the
weights file), the folder written at once (:func:`~brainbench.data.files.atomic_dir`). The SAE's identity
(:attr:`StoredSAE.identity`: the weights file's sha256 and the encoding settings) joins the activation-cache key
and the score provenance, so features of a retrained SAE never come from a stale cache entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..data.home import data_home
from ..errors import ConfigError, DataFileError

if TYPE_CHECKING:
    import torch

    from .layers import LayerInfo

__all__ = ["LAYOUTS", "READOUTS", "StoredSAE", "find_sae", "layout_of", "list_saes", "parse_sae_layer", "sae_encode",
           "sae_folder", "sae_root", "save_sae", "train_command"]

READOUTS = ("positions", "mean")  # of a convolutional map; other layers are read as one vector
LAYOUTS = ("map", "vector")
WEIGHTS_FILE, CARD_FILE = "weights.safetensors", "card.json"
_SUFFIX = re.compile(r"(?P<base>.+):sae(?P<k>[^:]*)")


def parse_sae_layer(spec: str) -> tuple[str, int] | None:
    """``"L:saeK"`` -> ``("L", K)``; None for a spec that names no SAE layer. Raises ConfigError for ``L:saeX``
    (K not a whole number) and ``L:sae0``."""
    match = _SUFFIX.fullmatch(spec.strip())
    if match is None:
        return None
    base, k = match.group("base").strip(), match.group("k")
    if not k.isdigit() or int(k) < 1:
        raise ConfigError(f"SAE layer {spec!r}: the part after ':sae' must be the SAE's number of features, a whole "
                          f"number >= 1, e.g. {base}:sae512")
    if any(c in base for c in "*?[") or base.startswith("depth:"):
        raise ConfigError(f"SAE layer {spec!r} must name one layer before ':sae' (an SAE is trained per layer), not "
                          f"a glob or depth range")
    return base, int(k)


def sae_encode(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, b_dec: torch.Tensor, k: int) -> torch.Tensor:
    """The top-``k`` codes ``(n, K)`` of vectors ``x`` ``(n, d)``: ReLU of the encoder, all but the k largest set
    to zero (module docstring)."""
    import torch

    pre = torch.relu((x - b_dec) @ W_enc.T + b_enc)
    values, index = pre.topk(k, dim=1)
    return torch.zeros_like(pre).scatter(1, index, values)


def layout_of(info: LayerInfo, model: str) -> str:
    """``"map"`` for a convolutional output ``(C, H, W)``, ``"vector"`` for any other non-token layer; token
    sequences are a ConfigError."""
    if info.tokens:
        raise ConfigError(f"layer {info.name!r} of {model} is a token sequence {info.shape}; SAE layers are built "
                          "over convolutional maps and vector layers only; pick another layer")
    return "map" if len(info.shape) == 3 else "vector"


def sae_root() -> Path:
    """``<data home>/sae``: every stored SAE."""
    return data_home() / "sae"


def sae_folder(model: str, layer: str, n_features: int) -> Path:
    """Where the SAE of ``n_features`` features over ``layer`` of the model labelled ``model`` is stored (names
    percent-encoded where a character could not be a folder name)."""
    return sae_root() / quote(model, safe="") / quote(layer, safe="") / f"sae{int(n_features)}"


def train_command(model: str, layer: str, n_features: int) -> str:
    """The command that trains the SAE that ``model``'s ``layer:sae<n_features>`` needs."""
    return f"brainbench sae train -m {model} --layer {layer} --features {n_features} --probe IMAGE_FOLDER_OR_DATASET"


def _sha256(path: Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes."""
    from ..data.downloads import file_hash

    return "sha256:" + file_hash(path, "sha256")


@dataclass(frozen=True)
class StoredSAE:
    """A stored SAE: its ``folder`` and ``card`` (the fields of :func:`save_sae`)."""

    folder: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        """The layer it makes: ``L:saeK``."""
        return f"{self.card['layer']}:sae{self.card['features']}"

    @property
    def identity(self) -> dict[str, Any]:
        """What its features depend on besides the base layer: the weights file's sha256, K, k, layout, readout."""
        return {key: self.card[key] for key in ("weights_sha256", "features", "active", "layout", "readout")}

    def shape(self, base: tuple[int, ...]) -> tuple[int, ...]:
        """The per-stimulus feature shape over a base layer of shape ``base``: ``(K, H, W)`` or ``(K,)``."""
        k = int(self.card["features"])
        return (k, *base[1:]) if self.card["layout"] == "map" and self.card["readout"] == "positions" else (k,)

    def verify(self) -> None:
        """Check the weights file against the card's sha256 (DataFileError if it is missing or changed: retrain it),
        so the identity that keys cached features is the file's own."""
        path = self.folder / WEIGHTS_FILE
        if not path.is_file() or _sha256(path) != self.card["weights_sha256"]:
            raise DataFileError(f"the SAE weights {path} are missing or do not match their card's sha256; train it "
                                f"again: {train_command(self.card['model'], self.card['layer'], self.card['features'])}"
                                " --overwrite")

    def load(self, device: str = "cpu") -> dict[str, torch.Tensor]:
        """The weights on ``device``, after :meth:`verify`."""
        from safetensors.torch import load_file

        self.verify()
        return {name: tensor.to(device) for name, tensor in load_file(str(self.folder / WEIGHTS_FILE)).items()}

    def encoder(self, device: str = "cpu") -> Any:
        """A function from a batch of the base layer's outputs ``(B, *shape)`` to the SAE features ``(B, *shape')``
        (:meth:`shape`), computed on ``device``."""
        weights = self.load(device)
        layout, readout, k = self.card["layout"], self.card["readout"], int(self.card["active"])

        def encode(out: torch.Tensor) -> torch.Tensor:
            x = out.float()
            args = (weights["W_enc"], weights["b_enc"], weights["b_dec"], k)
            if layout == "map" and readout == "positions":
                b, c, h, w = x.shape
                z = sae_encode(x.permute(0, 2, 3, 1).reshape(-1, c), *args)
                return z.reshape(b, h, w, -1).permute(0, 3, 1, 2)
            if layout == "map":
                return sae_encode(x.mean(dim=(2, 3)), *args)
            return sae_encode(x.reshape(x.shape[0], -1), *args)

        return encode

    def summary(self) -> str:
        c = self.card
        return (f"{c['model']} {self.name}: {c['features']} features, top-{c['active']} over {c['dimensions']} "
                f"{'channels' if c['layout'] == 'map' else 'units'} ({c['readout']}), {c['steps']} steps, seed "
                f"{c['seed']}, {c['n_vectors']} training vectors from {c['probe']['n_stimuli']} probe stimuli; dead "
                f"features {c['dead']}, R² {c['r2']:.4f}, L0 {c['l0']:.2f}")


def _read(folder: Path) -> StoredSAE:
    path = folder / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataFileError(f"SAE card {path} is not readable JSON ({exc}); delete {folder} and train it "
                            "again") from None
    return StoredSAE(folder, card)


def find_sae(model: str, layer: str, n_features: int) -> StoredSAE:
    """The stored SAE of ``n_features`` features over ``layer`` of the model labelled ``model``; ConfigError naming
    what is stored for that layer and the command that trains it when there is none."""
    folder = sae_folder(model, layer, n_features)
    if (folder / CARD_FILE).is_file():
        return _read(folder)
    stored = sorted(s.name for s in list_saes(model) if s.card["layer"] == layer)
    have = f"stored for this layer: {', '.join(stored)}" if stored else "none is stored for this layer"
    raise ConfigError(f"no SAE of {n_features} features over layer {layer!r} of {model} is stored ({have}; looked in "
                      f"{folder}); train one: {train_command(model, layer, n_features)}")


def list_saes(model: str | None = None) -> list[StoredSAE]:
    """Every stored SAE (of the model labelled ``model``, if given), by model, layer and K."""
    root = sae_root()
    if not root.is_dir():
        return []
    models = [root / quote(model, safe="")] if model is not None else sorted(root.iterdir())
    found = []
    for folder in models:
        for card in sorted(folder.glob(f"*/sae*/{CARD_FILE}")) if folder.is_dir() else []:
            found.append(_read(card.parent))
    return sorted(found, key=lambda s: (s.card["model"], s.card["layer"], int(s.card["features"])))


def save_sae(weights: dict[str, torch.Tensor], card: dict[str, Any]) -> StoredSAE:
    """Write ``weights`` (``W_enc``, ``b_enc``, ``W_dec``, ``b_dec``) and ``card`` (with ``model``, ``layer``,
    ``features``; ``weights_sha256`` is added) to :func:`sae_folder` at once, replacing what was there."""
    from safetensors.torch import save_file

    from ..data.files import atomic_dir

    folder = sae_folder(card["model"], card["layer"], card["features"])
    with atomic_dir(folder) as tmp:
        save_file({name: t.detach().float().cpu().contiguous() for name, t in weights.items()}, str(tmp / WEIGHTS_FILE))
        card = {**card, "weights_sha256": _sha256(tmp / WEIGHTS_FILE)}
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=1, sort_keys=True))
    return StoredSAE(folder, card)

