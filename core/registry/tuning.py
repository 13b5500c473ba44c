"""Tuned models into the registry: :func:`register_tuned` builds the in-process plugin that registers a
:class:`~brainbench.registry.contracts.TuningResult`'s model under a new name. The result dataclass itself
(:mod:`brainbench.registry.contracts`) holds the model and its record and needs none of this; its
:meth:`~brainbench.registry.contracts.TuningResult.register` calls here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .plugin_manager import register_plugin

if TYPE_CHECKING:
    from .contracts import TuningResult

__all__ = ["register_tuned"]


def register_tuned(result: TuningResult, name: str, *, description: str = "") -> str:
    """Register ``result.model`` under ``name`` in this process (scoring, listing, leaderboards), as plugin
    ``tuned:<name>``: its card is the parent's, renamed, with weights ``"tuned"`` and ``description`` (default:
    the parent's name and the training record). Returns ``name``."""
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
