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
    {"tuning"},  # tunes a model, then scores and interprets it
    {"scoring", "interpret"},
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


def _runtime_imports(path: Path, module: str, *, shims: bool = True) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``path`` outside ``if TYPE_CHECKING:`` blocks; with
    ``shims=False`` also outside the module's ``__getattr__`` (a moved name's deprecation shim, run on attribute
    access only, never while modules import)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    if not shims:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                skipped.update(id(n) for n in ast.walk(node))
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


# Import circles allowed for now (each with who removes it); issue 20 removed the last four.
KNOWN_CYCLES: list[set[str]] = []  # none left


def _resolve(name: str, modules: set[str]) -> str | None:
    """The core module an imported name lies in: the longest known module prefix (``brainbench.rdm.compare`` is
    the package ``brainbench.rdm``; ``brainbench.errors.ConfigError`` is ``brainbench.errors``)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) if parts else None


def _import_graph(modules: list[tuple[Path, str]]) -> dict[str, set[str]]:
    """Module -> the core modules it imports at run time (function-level imports too, TYPE_CHECKING ones not)."""
    names = {module for _, module in modules}
    graph: dict[str, set[str]] = {}
    for path, module in modules:
        targets = {_resolve(target, names) for _, target in _runtime_imports(path, module, shims=False)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected group of two or more modules (Tarjan), sorted, with one
    circle through it spelled out, ``a -> b -> a``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _circle(graph: dict[str, set[str]], group: list[str]) -> str:
    """One path around ``group`` from its first module back to it, inside the group (breadth-first)."""
    start, members = group[0], set(group)
    paths = {w: [start, w] for w in sorted(graph[start] & members)}
    queue = list(paths)
    while start not in paths:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return " -> ".join(paths[start])


def test_no_two_core_modules_import_each_other_in_a_circle():
    graph = _import_graph(_core_modules())
    cycles = [group for group in _cycles(graph) if set(group) not in KNOWN_CYCLES]
    assert not cycles, "core modules importing each other in a circle (move the shared job down into one of them, " \
        "or into a module both import):\n" + "\n".join(_circle(graph, group) for group in cycles)


def test_the_cycle_check_finds_a_constructed_circle(tmp_path):
    """The rule can fail: three modules in a circle (one import inside a function) are reported, spelled out;
    an import under TYPE_CHECKING, a package importing its own module and a one-way chain are not circles."""
    pkg = tmp_path / "brainbench" / "fake"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import x\n")
    (pkg / "a.py").write_text("from .b import y\nx = 1\n")
    (pkg / "b.py").write_text("def f():\n    from .c import z\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import w\n"
                              "from brainbench.fake.a import x\n")
    (pkg / "d.py").write_text("from .c import z\nfrom brainbench.fake import a\n")
    modules = [(p, _module_name(p, tmp_path / "brainbench", "brainbench")) for p in sorted(pkg.glob("*.py"))]
    graph = _import_graph(modules)
    assert graph["brainbench.fake.c"] == {"brainbench.fake.a"}  # the TYPE_CHECKING import is left out
    assert _cycles(graph) == [["brainbench.fake.a", "brainbench.fake.b", "brainbench.fake.c"]]
    assert _circle(graph, _cycles(graph)[0]) == "brainbench.fake.a -> brainbench.fake.b -> brainbench.fake.c -> " \
                                                "brainbench.fake.a"
    (pkg / "c.py").write_text("z = 1\n")  # break the circle: a -> b -> c runs one way
    assert _cycles(_import_graph(modules)) == []


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
