"""Lazy re-exports for a package's ``__init__``: names load from their module on first access.

A package such as :mod:`brainbench.extraction` offers its modules' public names at the package level
(``brainbench.extraction.extract``) without importing those modules, and so torch, when the package
is imported for a light neighbour (``brainbench.extraction.memory``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Any


def lazy_exports(package: str, modules: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` offering the ``__all__`` of each of its ``modules``.

    ``modules`` are names relative to ``package`` (``"engine"``), searched in order; a name that none of
    them exports raises :class:`AttributeError` as a plain attribute miss does.
    """

    def exported(name: str) -> Any:
        for module_name in modules:
            module = import_module(f"{package}.{module_name}")
            if name in getattr(module, "__all__", ()):
                return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def names() -> list[str]:
        return sorted({n for m in modules for n in getattr(import_module(f"{package}.{m}"), "__all__", ())})

    return exported, names
