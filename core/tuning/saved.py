"""A tuned model is a model: saved with its card, listed, rebuilt by name in any later process, deleted.

The storage (folders, card, save, list, delete) lives in :mod:`brainbench.registry.tuning`, below the registry's
users, since :meth:`TuningResult.save <brainbench.registry.contracts.TuningResult.save>` writes it; this module
re-exports it and adds :func:`build_tuned`, which makes a stored tuned model a
:class:`~brainbench.extraction.torch_model.TorchModel` again. The built-in model plugin ``tuned``
(:mod:`brainbench.plugins.models.tuned`) registers every stored tuned model with :func:`build_tuned` as factory.

Stored under ``<data home>/tuned/<name>/`` (and folders in ``$BRAINBENCH_TUNED_PATH``): ``weights.safetensors``
(the full state dict) and ``card.json`` (parent, its weights tag and hash, tuned weights hash and file sha256,
tuner and version, data, stimulus ids per split, config, seed, curves, created, brainbench version, description).
"""

from __future__ import annotations

from ..errors import DataFileError, UnknownNameError, WeightsNotFoundError
from ..extraction.torch_model import TorchModel
from ..registry.tuning import (CARD_FILE, CARD_KEYS, RECORD_KEYS, TUNED_PATH_ENV, WEIGHTS_FILE, StoredTuned,
                               TunedModelWarning, delete_tuned, file_sha256, find_tuned, list_tuned, save_tuned,
                               tuned_roots)

__all__ = ["CARD_FILE", "CARD_KEYS", "RECORD_KEYS", "TUNED_PATH_ENV", "WEIGHTS_FILE", "StoredTuned",
           "TunedModelWarning", "build_tuned", "delete_tuned", "find_tuned", "list_tuned", "save_tuned",
           "tuned_roots"]


def build_tuned(stored: StoredTuned, weights: str | None = None, seed: int = 0) -> TorchModel:
    """The stored tuned model as a :class:`TorchModel` named (and labelled) as stored, with weights ``"tuned"``:
    its parent built again (``get_model(parent, weights=parent_weights)``, its preprocessing and layers), the
    parent's weights hash checked against the recorded one, the weights file checked against its sha256, the
    tuned state dict loaded (strict) and the result's weights hash checked against the recorded one.

    ``seed`` is accepted for the factory signature and unused (the weights are stored, not drawn).

    Raises DataFileError for a broken stored model (unreadable card, missing key or weights file), a parent whose
    weights changed since tuning (the tuned model cannot be rebuilt: tune it again), a weights file changed on disk
    or not fitting the parent, or a rebuilt hash not the recorded one; WeightsNotFoundError when the parent is no
    longer registered (its plugin missing); UnknownNameError for weights other than ``"tuned"``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..registry.entries import get_model, get_registry

    stored.check()
    card = stored.card or {}
    name = stored.name
    if weights not in (None, "tuned"):
        raise UnknownNameError(f"weights of tuned model {name!r}", weights, ["tuned"])
    redo = f"delete it (brainbench tune delete {name}) and tune again"
    if card["parent"] not in get_registry("model"):
        raise WeightsNotFoundError(f"tuned model {name!r} was tuned from {card['parent']!r}, which is not registered "
                                   "now (is its plugin installed? see brainbench plugins); it cannot be built without "
                                   "its parent")
    parent = get_model(card["parent"], weights=card["parent_weights"])
    if not isinstance(parent, TorchModel):
        raise DataFileError(f"tuned model {name!r}: its parent {card['parent']!r} is no longer a torch model; {redo}")
    parent_hash = parent.weights_hash()
    if parent_hash != card["parent_weights_hash"]:
        raise DataFileError(f"tuned model {name!r} cannot be rebuilt: the weights of its parent {card['parent']!r} "
                            f"({card['parent_weights']}) changed since it was tuned (hash {card['parent_weights_hash']}"
                            f" then, {parent_hash} now), so its stored state may not match the parent's code; {redo}")
    path = stored.folder / WEIGHTS_FILE
    if file_sha256(path) != card["weights_sha256"]:
        raise DataFileError(f"tuned model {name!r}: {path} does not match its card's sha256 (changed or truncated on "
                            f"disk); {redo}")
    try:
        parent.module.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise DataFileError(f"tuned model {name!r}: {path} does not load into its parent {card['parent']!r} "
                            f"({type(exc).__name__}: {str(exc)[:300]}); {redo}") from None
    parent.card, parent.weights, parent.seed = stored.model_card(), "tuned", 0
    parent.tuned_on = {"benchmark": card.get("data"), "dataset": card.get("dataset"),
                       "stimulus_ids": card.get("stimulus_ids")}
    tuned_hash = parent.weights_hash()
    if tuned_hash != card["weights_hash"]:
        raise DataFileError(f"tuned model {name!r} rebuilt has weights hash {tuned_hash}, not the recorded "
                            f"{card['weights_hash']} (the parent's code or buffers differ from when it was tuned); "
                            f"{redo}")
    return parent
