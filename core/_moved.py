"""Old import paths of the modules that moved into sub-packages (brainbench 0.2), kept for one release.

``import brainbench.assembly`` still works: it gives the very module now at ``brainbench.data.assembly``
(so a monkeypatch through either name patches the one module) and warns with a
:class:`DeprecationWarning` naming the new path. The four modules that became packages of the same name
(``brainbench.cli``, ``brainbench.extraction``, ``brainbench.rdm``, ``brainbench.registry``) need no alias:
each package offers its old module's public names itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

REMOVED_IN = "0.3"
MOVED = {
    "activation_cache": "extraction.activation_cache",
    "allocator": "extraction.allocator",
    "assembly": "data.assembly",
    "cards": "registry.cards",
    "catalog": "registry.catalog",
    "ceiling": "scoring.ceiling",
    "cka": "encoding.cka",
    "contracts": "registry.contracts",
    "data_cli": "cli.data",
    "downloads": "data.downloads",
    "feature_stats": "encoding.feature_stats",
    "files": "data.files",
    "held_out": "scoring.held_out",
    "home": "data.home",
    "hookspecs": "registry.hookspecs",
    "identity": "extraction.identity",
    "imports": "registry.user_datasets",
    "inference": "scoring.inference",
    "interop": "rdm.interop",
    "layers": "extraction.layers",
    "leaderboards": "results.leaderboards",
    "memory": "extraction.memory",
    "netcdf": "data.netcdf",
    "plots": "results.plots",
    "plugin_manager": "registry.plugin_manager",
    "plugins.models.weights": "extraction.weights",  # the model plugins' shared weights helpers (issue 20)
    "reduction": "extraction.reduction",
    "regression": "encoding.regression",
    "remote_file": "data.remote_file",
    "result": "results.result",
    "scorer": "scoring.scorer",
    "splits": "scoring.splits",
    "stimuli": "data.stimuli",
    "store": "results.store",
    "tables": "data.tables",
    "targets": "scoring.targets",
    "torch_model": "extraction.torch_model",
    "torchvision_compat": "extraction.torchvision_compat",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A meta-path finder that answers an old ``brainbench.<name>`` with the module at its new path."""

    prefix = "brainbench."

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(self.prefix) and fullname[len(self.prefix):] in MOVED:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = self.prefix + MOVED[spec.name[len(self.prefix):]]
        warnings.warn(f"{spec.name} moved to {new}; import it from there (the old path goes in brainbench "
                      f"{REMOVED_IN})", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system set the alias's spec on the real module; give it its own back
        module.__spec__ = self._specs.pop(module.__spec__.name, module.__spec__)


def install() -> None:
    """Put the finder on :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
