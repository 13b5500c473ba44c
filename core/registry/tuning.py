"""Stored tuned models: where they live, what their card holds, saving, reading, listing and deleting them.

A tuner's :class:`~brainbench.registry.contracts.TuningResult` becomes a model that later processes list and score
by name once saved (:func:`save_tuned`, :meth:`TuningResult.save`): ``<folder>/<name>/`` holds

- ``weights.safetensors``: the tuned module's full state dict (tensors as they are, dtype kept);
- ``card.json`` (:data:`CARD_KEYS`): the name and description; the parent model's name, its weights tag and its
  weights hash (``TorchModel.weights_hash()`` of the parent as registered now) and its card (architecture, task,
  input size... for listings); the tuned weights hash and the weights file's sha256; the tuner and its version,
  the training data (a dataset or benchmark id), the exact stimulus ids per split (strings as written), the config,
  the seed and the training curves; when it was made and by which brainbench version.

The folders searched (:func:`tuned_roots`) are ``<data home>/tuned``, then those listed in
``$BRAINBENCH_TUNED_PATH`` (``os.pathsep``-separated), then folders saved to in this process. The built-in model
plugin ``tuned`` (:mod:`brainbench.plugins.models.tuned`) registers every stored tuned model found there; it is
rebuilt by :func:`brainbench.tuning.saved.build_tuned` (the parent, its weights hash checked, the state loaded).

:func:`register_tuned` (``TuningResult.register``) is the older in-process form: it registers the model object in
this process only and is deprecated in favour of :meth:`TuningResult.save`.

Only json, the file system and the registry are used here (no torch at import), so listing stays light; the
weights are written with safetensors when saving.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.home import data_home
from ..errors import ConfigError, DataFileError, UnknownNameError
from .entries import get_model, get_registry, refresh
from .hookspecs import hookimpl
from .plugin_manager import register_plugin

if TYPE_CHECKING:
    from .contracts import Model

__all__ = ["CARD_FILE", "CARD_KEYS", "RECORD_KEYS", "TUNED_PATH_ENV", "TUNED_PLUGIN", "WEIGHTS_FILE", "StoredTuned",
           "TunedModelWarning", "TuningResult", "delete_tuned", "file_sha256", "find_tuned", "list_tuned",
           "register_tuned", "save_tuned", "tuned_roots"]

TUNED_PATH_ENV = "BRAINBENCH_TUNED_PATH"
TUNED_PLUGIN = "tuned"  # the built-in plugin (entry point) that registers the stored tuned models
WEIGHTS_FILE, CARD_FILE = "weights.safetensors", "card.json"
FORMAT = 1
# what TuningResult.record must hold (save_tuned refuses a record missing one); "parent_weights_hash" is optional:
# a tuner that read its parent's hash before tuning records it, and saving checks it against the parent now
RECORD_KEYS = ("tuner", "tuner_version", "parent", "parent_weights", "data", "stimulus_ids", "config", "seed", "curves")
CARD_KEYS = ("format", "name", "description", "parent", "parent_weights", "parent_weights_hash", "parent_card",
             "weights_hash", "weights_sha256", *RECORD_KEYS[:2], *RECORD_KEYS[4:], "created", "brainbench_version")
# a tuned model's name: ModelCard's name pattern without the wildcard a card's variant may hold (it is a folder name)
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)?")

_saved_here: list[Path] = []  # folders saved to in this process (searched after the data home and the env var)


@dataclass
class TuningResult:
    """A tuned, scorable model and the record of how it was trained (:data:`RECORD_KEYS` to be saved).

    Defined here rather than in :mod:`brainbench.registry.contracts` (which offers it too) since saving reads the
    registry, which reads the contracts."""

    model: Model
    record: dict[str, Any]

    def save(self, name: str, folder: str | Path | None = None, *, description: str = "",
             overwrite: bool = False) -> Path:
        """Store the tuned model as ``name`` (weights and card under ``<data home>/tuned/<name>``, or
        ``<folder>/<name>``) and refresh the registries, so ``get_model(name)`` builds it now and in later processes
        (a ``folder`` outside the data home must be listed in ``$BRAINBENCH_TUNED_PATH`` for those):
        :func:`save_tuned`, which says what ``record`` must hold and what is refused. Returns the model's folder."""
        return save_tuned(self, name, folder=folder, description=description, overwrite=overwrite)

    def register(self, name: str, *, description: str = "") -> str:
        """Deprecated (DeprecationWarning): register the tuned model under ``name`` in this process only, not
        stored; use :meth:`save`. :func:`register_tuned`."""
        return register_tuned(self, name, description=description)


class TunedModelWarning(UserWarning):
    """A stored tuned model that is not registered: its name is already a registered model, or a tuned model found
    earlier on the search path (:func:`tuned_roots`); the message names both folders."""


def tuned_roots() -> list[Path]:
    """The folders holding stored tuned models, in search order (the first of two same names wins):
    ``<data home>/tuned``, the folders in ``$BRAINBENCH_TUNED_PATH`` (``os.pathsep``-separated), then the folders
    :func:`save_tuned` wrote to in this process."""
    paths = [data_home() / "tuned"]
    paths += [Path(p).expanduser() for p in os.environ.get(TUNED_PATH_ENV, "").split(os.pathsep) if p.strip()]
    paths += _saved_here
    seen: set[Path] = set()
    roots = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            roots.append(path)
    return roots


def file_sha256(path: Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes."""
    from ..data.downloads import file_hash

    return "sha256:" + file_hash(path, "sha256")


@dataclass(frozen=True)
class StoredTuned:
    """One stored tuned model: its ``folder`` (named as the model), its ``card`` (the fields of :data:`CARD_KEYS`;
    None when card.json is unreadable) and ``problem`` (why it cannot be built: an unreadable card, a missing key, a
    missing weights file; None when it is whole as far as can be told without reading the weights)."""

    folder: Path
    card: dict[str, Any] | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    def model_card(self) -> Any:
        """The :class:`~brainbench.registry.cards.ModelCard` it is registered with: source ``tuned``, weights
        ``["tuned"]``, ``tuned_from`` the parent, architecture, task, input size and parameter count from the parent's
        card as it was saved, training data the parent's then the tuning data (``in1k+nsd.V4``); a broken one gets
        architecture ``unknown`` and its problem as description."""
        from .cards import ModelCard

        card = self.card or {}
        parent = card.get("parent_card") if isinstance(card.get("parent_card"), dict) else {}
        fields = {k: parent[k] for k in ("architecture", "task", "training_data", "input_size", "parameters")
                  if parent.get(k) is not None}
        fields.setdefault("architecture", "unknown")
        if isinstance(card.get("data"), str):  # timm's convention: training data joined by "+" in training order
            fields["training_data"] = f"{fields.get('training_data', 'unknown')}+{card['data']}"
        tuner, data = card.get("tuner", "?"), card.get("data", "?")
        about = card.get("description") or f"{card.get('parent', '?')} tuned by {tuner} on {data}"
        parent_name = card.get("parent")
        return ModelCard(name=self.name, source="tuned", weights=["tuned"], offline_weights=True,
                         tuned_from=parent_name if isinstance(parent_name, str) else None,
                         description=f"BROKEN ({self.problem}): {about}" if self.problem else about, **fields)

    def check(self) -> None:
        """Raise a DataFileError saying what is wrong with this stored model and how to fix it, if anything is."""
        if self.problem:
            raise DataFileError(f"tuned model {self.name!r} in {self.folder} cannot be built: {self.problem}; delete "
                                f"it (brainbench tune delete {self.name}) and save the tuning result again")


def _read(folder: Path) -> StoredTuned:
    path = folder / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return StoredTuned(folder, None, f"its {CARD_FILE} is not readable JSON ({type(exc).__name__}: {exc})")
    if not isinstance(card, dict):
        return StoredTuned(folder, None, f"its {CARD_FILE} holds a {type(card).__name__}, not an object")
    missing = [key for key in CARD_KEYS if key not in card]
    if missing:
        return StoredTuned(folder, card, f"its {CARD_FILE} lacks {', '.join(missing)}")
    if card["name"] != folder.name:
        return StoredTuned(folder, card, f"its {CARD_FILE} names {card['name']!r}, not its folder's name")
    if not (folder / WEIGHTS_FILE).is_file():
        return StoredTuned(folder, card, f"its weights file {WEIGHTS_FILE} is missing")
    return StoredTuned(folder, card)


def list_tuned(parent: str | None = None) -> list[StoredTuned]:
    """Every stored tuned model on the search path (:func:`tuned_roots`), in search order and by name within a
    folder; broken ones too (their ``problem`` set), and a name stored twice twice (the first is the registered
    one). ``parent``: only those tuned from that model."""
    found = []
    for root in tuned_roots():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir(), key=lambda p: p.name):
            if folder.is_dir() and not folder.name.startswith(".") and NAME.fullmatch(folder.name):
                found.append(_read(folder))
    return [s for s in found if parent is None or (s.card or {}).get("parent") == parent]


def find_tuned(name: str) -> StoredTuned:
    """The stored tuned model ``name`` (the first on the search path); an UnknownNameError listing the stored ones
    (close matches first) otherwise."""
    stored = list_tuned()
    for s in stored:
        if s.name == name:
            return s
    raise UnknownNameError("tuned model", name, sorted({s.name for s in stored}))


def delete_tuned(name: str) -> Path:
    """Remove the stored tuned model ``name`` (its whole folder, the first on the search path) and refresh the
    registries; returns the folder removed. The folder is first renamed aside, so an interrupted delete leaves no
    half model under the name. An unknown name is an UnknownNameError listing the stored ones; a folder that cannot
    be moved, a DataFileError. Tuned models tuned from this one (:func:`list_tuned` with ``parent=name``) are left,
    and can no longer be built."""
    folder = find_tuned(name).folder
    aside = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:12]}.deleting")
    try:
        folder.rename(aside)
    except OSError as exc:
        raise DataFileError(f"cannot remove tuned model {name!r}: {folder} cannot be moved ({exc}); check that its "
                            "folder is writable by you") from None
    shutil.rmtree(aside, ignore_errors=True)
    refresh()
    return folder


def _record(result: TuningResult) -> dict[str, Any]:
    """The record's required keys (:data:`RECORD_KEYS`), checked: ConfigError naming a missing or malformed one."""
    record = result.record
    if not isinstance(record, Mapping):
        raise ConfigError(f"TuningResult.record is a {type(record).__name__}; it must be a dict holding "
                          f"{', '.join(RECORD_KEYS)}")
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise ConfigError(f"the tuning record lacks {', '.join(map(repr, missing))}: a saved tuned model records "
                          f"{', '.join(RECORD_KEYS)} (it has {', '.join(map(repr, record)) or 'none'}); the tuner "
                          "must put them in TuningResult.record")
    for key in ("tuner", "tuner_version", "parent", "data"):
        if not isinstance(record[key], str) or not record[key]:
            raise ConfigError(f"the tuning record's {key!r} must be a non-empty string, not {record[key]!r}")
    if record["parent_weights"] is not None and not isinstance(record["parent_weights"], str):
        raise ConfigError(f"the tuning record's 'parent_weights' must be a weights tag (a string) or None, not "
                          f"{record['parent_weights']!r}")
    if isinstance(record["seed"], bool) or not isinstance(record["seed"], int):
        raise ConfigError(f"the tuning record's 'seed' must be an integer, not {record['seed']!r}")
    ids = record["stimulus_ids"]
    if not isinstance(ids, Mapping) or "train" not in ids:
        raise ConfigError("the tuning record's 'stimulus_ids' must map each split (train, and validation and test "
                          f"where used) to its stimulus ids, e.g. {{'train': ['im001', ...]}}; got {type(ids).__name__}"
                          + (f" with splits {sorted(map(str, ids))}" if isinstance(ids, Mapping) else ""))
    for split, values in ids.items():
        if isinstance(values, (str, bytes)) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"the tuning record's stimulus_ids[{split!r}] must be a list of stimulus ids as "
                              "strings (as the stimulus set writes them), never converted numbers")
    out = {key: record[key] for key in RECORD_KEYS}
    out["stimulus_ids"] = {str(split): [str(v) for v in values] for split, values in ids.items()}
    for key in ("config", "curves"):
        try:
            out[key] = json.loads(json.dumps(record[key], allow_nan=True))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the tuning record's {key!r} must be JSON data (numbers, strings, lists, dicts) to be "
                              f"stored in {CARD_FILE}: {exc}") from None
    return out


def _check_name(name: str, overwrite: bool) -> None:
    from ..names import parse_name

    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"tuned model name {name!r} must be letters, digits, '_' and '-' (one '.' may separate a "
                          "variant), starting with a letter, digit or '_', e.g. resnet18-nsd-lwf")
    stored = {s.name: s for s in list_tuned()}
    registry = get_registry("model")
    if name in registry and registry.get(name).plugin != TUNED_PLUGIN:
        raise ConfigError(f"{name!r} is already a registered model (plugin {registry.get(name).plugin!r}); give the "
                          "tuned model another name")
    family, variant = parse_name(name)
    if variant and family in registry:
        raise ConfigError(f"{name!r} would name weights {variant!r} of the registered model {family!r}; give the "
                          "tuned model another name, e.g. " + f"{family}-{variant}")
    if name in stored and not overwrite:
        raise ConfigError(f"a tuned model {name!r} is already stored in {stored[name].folder}; choose another name, "
                          f"delete it (brainbench tune delete {name}) or save with overwrite=True")


def _tuned_hash(model: Any) -> str:
    """The tuned model's weights hash as a rebuilt copy will have it: computed in evaluation mode (as every
    :class:`~brainbench.extraction.torch_model.TorchModel` is built), the module's modes restored after."""
    modes = [(m, m.training) for m in model.module.modules()]
    model.module.eval()
    try:
        return model.weights_hash()
    finally:
        for m, training in modes:
            m.training = training


def save_tuned(result: TuningResult, name: str, *, folder: str | Path | None = None, description: str = "",
               overwrite: bool = False) -> Path:
    """Store a tuning result as the tuned model ``name`` in ``<folder>/<name>/`` (default folder: ``<data
    home>/tuned``), written at once (:func:`~brainbench.data.files.atomic_dir`: a failure leaves no folder), and
    refresh the registries so ``get_model(name)`` builds it in this process (and, from the data home or a folder in
    ``$BRAINBENCH_TUNED_PATH``, in any later one). Returns the model's folder.

    ``result.model`` must be a model over a torch module (``.module``, ``.weights_hash()``: a
    :class:`~brainbench.extraction.torch_model.TorchModel`) whose state dict has the parent's keys and shapes;
    ``result.record`` must hold :data:`RECORD_KEYS`: ``tuner``, ``tuner_version`` (strings), ``parent`` (the
    registered model tuned), ``parent_weights`` (its weights tag, or None for its default), ``data`` (the dataset
    or benchmark id tuned on), ``stimulus_ids`` (split -> list of stimulus ids as strings: ``train``, and
    ``validation``, ``test`` where used), ``config`` and ``curves`` (JSON data: per-epoch or per-step losses) and
    ``seed`` (int); optionally ``parent_weights_hash``, checked against the parent's hash now.

    The parent is built (``get_model(parent, weights=parent_weights)``) to record its weights hash and card.
    Raises DataFileError when the folder cannot be written (nothing is left), ConfigError for a missing or malformed
    record key, a bad name, a name that is a registered model or
    names one's weights, a stored tuned model's name (unless ``overwrite``), a model not over a torch module, or a
    state that does not fit the parent; DataFileError when the recorded parent hash is not the parent's now;
    UnknownNameError for an unregistered parent.
    """
    from safetensors.torch import save_file

    from .._version import __version__
    from ..data.files import atomic_dir

    record = _record(result)
    _check_name(name, overwrite)
    model = result.model
    if not hasattr(model, "module") or not callable(getattr(model.module, "state_dict", None)):
        raise ConfigError(f"the tuned model is a {type(model).__name__} without a torch module (.module); only models "
                          "over a torch module (brainbench.wrap, TorchModel) can be saved as tuned weights")
    parent = get_model(record["parent"], weights=record["parent_weights"])
    if parent is model or getattr(parent, "module", None) is model.module:
        raise ConfigError(f"the parent {record['parent']!r}'s factory returned the tuned model itself (a factory that "
                          "hands out one object), so the parent's own weights cannot be recorded; tune a model the "
                          "parent's factory builds afresh")
    parent_hash = parent.weights_hash()
    claimed = result.record.get("parent_weights_hash")
    if claimed is not None and claimed != parent_hash:
        raise DataFileError(f"the tuning record says parent {record['parent']!r} (weights {parent.weights!r}) had "
                            f"weights hash {claimed}, but it has {parent_hash} now: the tuned model could not be "
                            "rebuilt from it; tune again from the parent as registered")
    state = {key: t.detach().cpu().contiguous().clone() for key, t in model.module.state_dict().items()}
    expected = {key: tuple(t.shape) for key, t in parent.module.state_dict().items()}
    got = {key: tuple(t.shape) for key, t in state.items()}
    if got != expected:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        shapes = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise ConfigError(f"the tuned module's state does not fit its parent {record['parent']!r}, so it could not be "
                          f"rebuilt from it: missing {missing[:5]}, unexpected {extra[:5]}, other shapes {shapes[:5]}; "
                          "a tuner must return the parent's architecture with new weights")
    root = Path(folder).expanduser() if folder is not None else data_home() / "tuned"
    card = {
        "format": FORMAT, "name": name, "description": description,
        "parent": record["parent"], "parent_weights": parent.weights, "parent_weights_hash": parent_hash,
        "parent_card": parent.card.model_dump(mode="json", exclude_none=True),
        "weights_hash": _tuned_hash(model),
        **{key: record[key] for key in RECORD_KEYS if key not in ("parent", "parent_weights")},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "brainbench_version": __version__,
    }
    extras = {key: value for key, value in result.record.items() if key not in card}  # held-out scores, costs, ...
    for key, value in extras.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ConfigError(f"the tuning record's {key!r} ({type(value).__name__}) cannot be written as JSON; "
                              "give it as numbers, strings, lists and dicts") from None
    card.update(extras)
    try:
        with atomic_dir(root / name) as tmp:
            save_file(state, str(tmp / WEIGHTS_FILE))
            card["weights_sha256"] = file_sha256(tmp / WEIGHTS_FILE)
            (tmp / CARD_FILE).write_text(json.dumps(card, indent=1), encoding="utf-8")
    except OSError as exc:  # a folder not writable, a full disk: nothing was left behind
        raise DataFileError(f"cannot write tuned model {name!r} to {root} ({type(exc).__name__}: {exc}); nothing was "
                            "written; choose a folder you can write to, or free space") from None
    if folder is not None and root.resolve() not in {r.resolve() for r in tuned_roots()}:
        _saved_here.append(root)
    refresh()
    return root / name


def register_tuned(result: TuningResult, name: str, *, description: str = "") -> str:
    """Deprecated (use :meth:`TuningResult.save`, which persists the model): register ``result.model`` under
    ``name`` in this process only, as plugin ``tuned:<name>``: its card is the parent's, renamed, with weights
    ``"tuned"`` and ``description`` (default: the parent's name and the training record). Returns ``name``."""
    warnings.warn("TuningResult.register registers the tuned model in this process only and is deprecated; use "
                  "TuningResult.save(name), which stores it so later processes list and score it by name",
                  DeprecationWarning, stacklevel=3)  # the caller of TuningResult.register
    base = result.model.card
    card = base.model_copy(update={"name": name, "weights": ["tuned"],
                                   "description": description or f"{base.name} tuned: {result.record}"})
    model = result.model
    model.card, model.weights = card, "tuned"

    class TunedModel:
        @hookimpl
        def register_models(self, register: Any) -> None:
            register(card, lambda weights=None, seed=0: model)

    register_plugin(TunedModel(), f"tuned:{name}")
    return name
