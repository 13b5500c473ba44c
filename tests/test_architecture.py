"""The house rules of core/ read from the source (core/README.md): imports run one way between its folders,
built-in plugins import the core only (never each other), and ``import brainbench`` stays light.

Every ``import``/``from ... import`` counts, also those inside functions; only imports under
``if TYPE_CHECKING:`` are left out, since annotations load nothing at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "core"
PLUGINS = REPO / "plugins"

# Each layer may import the layers after it in this list, and itself; never one before it.
LAYERS = [
    {"api", "testing"},  # api: core/__init__.py (the public names) and core/__main__.py (python -m brainbench)
    {"cli"},
    {"scoring"},
    {"extraction", "rdm", "encoding", "results"},
    {"registry"},
    {"data"},
    {"base"},  # the modules directly in core/: errors, device, names, checks, progress, _version, _lazy, _moved
]
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _package_of(path: Path) -> str:
    """The folder of core/ a module belongs to (``"base"`` for core/*.py)."""
    rel = path.relative_to(CORE)
    if len(rel.parts) == 1 and rel.name in ("__init__.py", "__main__.py"):
        return "api"
    return rel.parts[0] if len(rel.parts) > 1 else "base"


def _module_name(path: Path, root: Path, package: str) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([package, *parts])


def _runtime_imports(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``path`` outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: x may be a module
                    found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
                    continue
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return found


def _core_part(name: str) -> str | None:
    """The core folder an absolute ``brainbench.*`` module name lies in (None outside the core)."""
    parts = name.split(".")
    if parts[0] != "brainbench" or len(parts) == 1 or parts[1] == "plugins":
        return None
    return parts[1] if parts[1] in RANK else "base"


def _core_modules() -> list[tuple[Path, str]]:
    return [(p, _module_name(p, CORE, "brainbench")) for p in sorted(CORE.rglob("*.py"))]


def test_every_core_folder_is_in_a_layer():
    folders = {p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders <= set(RANK), f"core/ folders missing from LAYERS (and core/README.md): {folders - set(RANK)}"
    readme = (CORE / "README.md").read_text()
    assert all(f"`{folder}/`" in readme for folder in folders), "core/README.md describes every folder"


def test_core_imports_run_one_way():
    wrong = []
    for path, module in _core_modules():
        here = _package_of(path)
        for line, target in _runtime_imports(path, module):
            there = _core_part(target)
            if there is not None and there != here and RANK[there] < RANK[here]:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({here}) imports {target} ({there}, a layer above)")
    assert not wrong, "imports against the direction of core/README.md:\n" + "\n".join(wrong)


def test_builtin_plugins_import_the_core_only():
    wrong = []
    for path in sorted(PLUGINS.rglob("*.py")):
        module = _module_name(path, PLUGINS, "brainbench.plugins")
        own = ".".join(module.split(".")[:4])  # brainbench.plugins.<kind>.<plugin>
        for line, target in _runtime_imports(path, module):
            if target.startswith("brainbench.plugins.") and not target.startswith(own) and target.count(".") >= 3:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert not wrong, "built-in plugins importing other plugins (move the shared piece into the core):\n" + "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The rule can fail: a data module importing the scorer is reported."""
    fake = CORE / "data" / "stimuli.py"
    imports = _runtime_imports(fake, "brainbench.data.stimuli")
    assert all(_core_part(t) in (None, "base", "data") for _, t in imports)
    bad = tmp_path / "bad.py"
    bad.write_text("from ..scoring.scorer import score\nif TYPE_CHECKING:\n    from ..cli import main\n")
    found = _runtime_imports(bad, "brainbench.data.bad")
    assert found == [(1, "brainbench.scoring.scorer")]
    assert RANK[_core_part(found[0][1])] < RANK["data"]


@pytest.mark.parametrize("old", ["assembly", "netcdf", "regression", "scorer", "store", "stimuli", "contracts",
                                 "plugins.models.weights"])
def test_old_module_paths_warn_and_give_the_moved_module(old):
    from brainbench._moved import MOVED

    code = (f"import warnings, importlib; warnings.simplefilter('error', DeprecationWarning)\n"
            f"try:\n    import brainbench.{old}\nexcept DeprecationWarning as w:\n    print('warned', w)\n"
            f"warnings.simplefilter('ignore')\nimport brainbench.{old} as a, brainbench.{MOVED[old]} as b\n"
            f"print(a is b, b.__spec__.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].startswith(f"warned brainbench.{old} moved to brainbench.{MOVED[old]}")
    assert out[1] == f"True brainbench.{MOVED[old]}"
