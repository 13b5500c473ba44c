"""The plugin manager: loads the ``brainbench`` entry-point group once, lazily, fault-isolated.

Built-ins are entry points of this distribution, exactly like third-party plugins. A plugin
that fails to import (or breaks the hook contract) is recorded with its entry point,
distribution and error; everything else keeps working. ``BRAINBENCH_DISABLE_PLUGINS=a,b``
blocks plugins by entry-point name.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

import pluggy

from . import hookspecs

__all__ = ["DISABLE_ENV", "ENTRY_POINT_GROUP", "PluginInfo", "get_plugin_manager", "plugin_info", "reset_plugins"]

ENTRY_POINT_GROUP = "brainbench"
DISABLE_ENV = "BRAINBENCH_DISABLE_PLUGINS"


@dataclass
class PluginInfo:
    """What ``brainbench plugins`` reports for one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: Literal["loaded", "failed", "disabled"] = "loaded"
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "traceback"}


_pm: pluggy.PluginManager | None = None
_info: dict[str, PluginInfo] = {}
_listeners: list[Callable[[str], None]] = []  # told of plugin changes (subscribe)


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def record_failure(name: str, error: BaseException, *, unregister: bool = True) -> None:
    """Mark plugin ``name`` as failed (import error, contract violation, or a hook that raised).

    A plugin whose hook raised stays registered (``unregister=False``), so its other hooks work;
    only the failing hook's registrations are dropped (by the registry).
    """
    info = _info.get(name) or PluginInfo(name=name, module="?")
    info.status, info.error = "failed", f"{type(error).__name__}: {error}"
    info.traceback = "".join(traceback.format_exception(error))
    _info[name] = info
    if unregister and _pm is not None and _pm.has_plugin(name):
        _pm.unregister(name=name)


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(impl.name for impl in pm.get_hookcallers(plugin) or [])


def _load(pm: pluggy.PluginManager) -> None:
    disabled = _disabled()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        _info[ep.name] = info
        if ep.name in disabled:
            info.status = "disabled"
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - fault isolation is the point
            record_failure(ep.name, exc)
            continue
        info.hooks = _hooks_of(pm, plugin)
    _check_pending(pm)


def _check_pending(pm: pluggy.PluginManager) -> None:
    """Unregister (and report) plugins implementing hooks that do not exist."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            record_failure(name, exc)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _pm
    if _pm is None:
        _pm = _new_manager()
        _load(_pm)
    return _pm


def subscribe(listener: Callable[[str], None]) -> None:
    """Call ``listener(event)`` when plugins change (``"changed"``: registered, unregistered, reset) and before
    :func:`plugin_info` reports them (``"report"``). The registry of entries subscribes when it is imported, so
    this module needs not import it."""
    if listener not in _listeners:
        _listeners.append(listener)


def _notify(event: str) -> None:
    for listener in list(_listeners):
        listener(event)


def register_plugin(plugin: object, name: str) -> None:
    """Register an in-process plugin (notebooks, tests); the registries are built again on next use."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    _check_pending(pm)
    if pm.has_plugin(name):
        _info[name] = PluginInfo(name=name, module=getattr(plugin, "__name__", repr(plugin)), hooks=_hooks_of(pm, plugin))
    _notify("changed")


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    if pm.has_plugin(name):
        pm.unregister(name=name)
    _info.pop(name, None)
    _notify("changed")


def plugin_info() -> list[PluginInfo]:
    """Every plugin seen: loaded, failed (with the error) or disabled."""
    get_plugin_manager()
    _notify("report")  # the registries run every hook: hook-time failures are part of the report
    return sorted(_info.values(), key=lambda i: i.name)


def reset_plugins() -> None:
    """Forget loaded plugins; the next use reloads entry points (re-reads the environment)."""
    global _pm
    _pm = None
    _info.clear()
    _notify("changed")
