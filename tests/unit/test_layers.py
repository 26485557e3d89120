"""Architecture rules, read from the source (ast; nothing of the project is imported).

The modules under app/, indexers/, encoders/ and milvus/ form layers. A module may import
a module of a strictly lower layer, or one inside its own group of the table below; never a
different group of the same or a higher layer, and never back along a cycle. Private names
(a leading underscore) stay inside the module that defines them. Every module says what it
is for in a docstring.

Every import statement counts wherever it stands: at module level, inside a function, or
under `if TYPE_CHECKING:`. `from pkg import name` is an import of the module pkg.name when
that file exists, else of pkg (its __init__.py); `import a.b.c` is an import of a.b.c. A
submodule does not implicitly import its parent package here: only written imports count.

The checkers take the root of a source tree, so test_checkers_catch_each_offence runs them
on a small fake tree in tmp_path.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "indexers", "encoders", "milvus")

# group -> rank. A module belongs to the longest group that is its name or a prefix of it
# ending at a dot; `app` itself names app/__init__.py only, so a new top-level app module
# must be given a group here.
LAYERS = {
    "milvus": 0,
    "encoders": 0,
    "indexers": 1,
    "app.errors": 2,
    "app.settings": 2,
    "app": 2,
    "app.search": 3,
    "app.demo": 3,
    "app.answer": 4,
    "app.eval": 4,
    "app.context": 5,
    "app.server": 6,
    "app.cli": 7,
    "app.views": 7,
    "app.streamlit_app": 7,
    "app.__main__": 7,
}
# app.search.engine dispatches to the per-kind modules (images, audio, video, docs,
# catalogue, ...) and their helpers: no other module of app.search imports it back.
SEARCH_ENGINE = "app.search.engine"


@dataclass(frozen=True)
class Import:
    """One imported project module (one per name of a `from ... import a, b`)."""

    importer: str
    imported: str
    path: str  # the importer's file, relative to the root
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} → {self.imported}"


def find_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the four packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def owning_module(dotted: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is a project module (None: not ours)."""
    parts = dotted.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def import_base(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute name after `from` (relative imports resolved against the importer)."""
    if not node.level:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imports_in(tree: ast.AST, module: str, is_package: bool) -> list[tuple[ast.stmt, ast.alias, str]]:
    """(statement, alias, dotted name imported) for each name of every import statement:
    `import a.b.c` imports "a.b.c"; `from a.b import c` imports "a.b.c"; `from a import *`, "a"."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = import_base(node, module, is_package)
            for alias in node.names:
                found.append((node, alias, base if alias.name == "*" else f"{base}.{alias.name}"))
    return found


def parse(root: Path) -> tuple[dict[str, Path], dict[str, ast.AST]]:
    modules = find_modules(root)
    return modules, {name: ast.parse(path.read_text(), str(path)) for name, path in modules.items()}


def find_imports(root: Path) -> list[Import]:
    """Every import of one project module by another (self-imports left out)."""
    modules, trees = parse(root)
    imports = []
    for module, tree in trees.items():
        is_package = modules[module].name == "__init__.py"
        path = modules[module].relative_to(root).as_posix()
        for node, _, target in imports_in(tree, module, is_package):
            imported = owning_module(target, modules)
            if imported and imported != module:
                imports.append(Import(module, imported, path, node.lineno))
    return sorted(set(imports), key=lambda i: (i.path, i.line, i.imported))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of a graph (node -> successors)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def find_cycles(root: Path) -> list[str]:
    """One entry per import cycle: its modules, then the imports that close it."""
    imports = find_imports(root)
    graph: dict[str, set[str]] = {}
    for i in imports:
        graph.setdefault(i.importer, set()).add(i.imported)
    offences = []
    for component in strongly_connected(graph):
        if len(component) > 1:
            inside = [f"    {i}" for i in imports if i.importer in component and i.imported in component]
            offences.append("cycle: " + ", ".join(component) + "\n" + "\n".join(inside))
    return offences


def layer_group(module: str) -> str | None:
    matches = [g for g in LAYERS if module == g or (g != "app" and module.startswith(g + "."))]
    return max(matches, key=len, default=None)


def find_layer_breaks(root: Path) -> list[str]:
    """Imports of a different group of the same or a higher layer; modules of no group."""
    modules = find_modules(root)
    offences = [
        f"{path.relative_to(root).as_posix()}: {module} is in no layer: add it to the layer table"
        for module, path in modules.items()
        if layer_group(module) is None
    ]
    for i in find_imports(root):
        mine, theirs = layer_group(i.importer), layer_group(i.imported)
        if mine is None or theirs is None:
            continue
        if mine != theirs and LAYERS[theirs] >= LAYERS[mine]:
            offences.append(f"{i} (layer {LAYERS[mine]} {mine} imports layer {LAYERS[theirs]} {theirs})")
        elif i.imported == SEARCH_ENGINE and i.importer.startswith("app.search."):
            offences.append(f"{i} (the search engine imports the kind modules, not the reverse)")
    return offences


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted_name(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attributes on a plain name, else None (calls, subscripts ...)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def find_private_uses(root: Path) -> list[str]:
    """`from X import _name`, and `X._name` on a name bound by importing from X (X another module).

    Only names bound by import statements are followed: `engine._search` on a local variable
    is out of reach of a source reading, and is not looked for.
    """
    modules, trees = parse(root)
    offences = []
    for module, tree in trees.items():
        is_package = modules[module].name == "__init__.py"
        path = modules[module].relative_to(root).as_posix()
        bound = {}  # local name -> the dotted name it stands for
        for node, alias, target in imports_in(tree, module, is_package):
            if isinstance(node, ast.Import) and not alias.asname:
                head = alias.name.split(".")[0]  # `import a.b.c` binds a
                bound[head] = head
            else:
                bound[alias.asname or alias.name] = target
            source = owning_module(target.rpartition(".")[0], modules)
            imported_name = target.rpartition(".")[2]
            if isinstance(node, ast.ImportFrom) and source and source != module and is_private(imported_name):
                offences.append((path, node.lineno, f"{module} → {source}: imports {imported_name}"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            chain = dotted_name(node.value)
            if chain is None or chain.split(".")[0] not in bound:
                continue
            head, _, rest = chain.partition(".")
            target = bound[head] + ("." + rest if rest else "")
            owner = owning_module(target, modules)
            if owner and owner != module:
                offences.append((path, node.lineno, f"{module} → {owner}: uses {chain}.{node.attr}"))
    return [f"{path}:{line}: {what}" for path, line, what in sorted(offences)]


def find_missing_docstrings(root: Path) -> list[str]:
    """Modules (package __init__.py files included) without a docstring; folders of
    modules that are not packages (no __init__.py)."""
    modules, trees = parse(root)
    offences = [
        f"{modules[m].relative_to(root).as_posix()}: {m} has no module docstring"
        for m, tree in trees.items()
        if not (ast.get_docstring(tree) or "").strip()
    ]
    folders = {path.parent for path in modules.values()}
    offences += [
        f"{folder.relative_to(root).as_posix()}/: not a package (no __init__.py with a docstring)"
        for folder in sorted(folders)
        if not (folder / "__init__.py").exists()
    ]
    return offences


def fail_on(offences: list[str]) -> None:
    """Fail with one offence a line (no traceback: the list is the whole story)."""
    if offences:
        pytest.fail(f"{len(offences)} offence(s):\n" + "\n".join(offences), pytrace=False)


def test_no_import_cycles():
    """No module imports a module that imports it back, directly or through others."""
    fail_on(find_cycles(ROOT))


def test_layers_import_only_downward():
    """A module imports only modules of a strictly lower layer or of its own group; every
    module belongs to a group of the layer table; the search kind modules do not import
    the search engine that dispatches to them."""
    fail_on(find_layer_breaks(ROOT))


def test_private_names_stay_in_their_module():
    """No module imports or reaches into another module's private (_underscore) names."""
    fail_on(find_private_uses(ROOT))


def test_every_module_and_package_has_a_docstring():
    """Every package (a folder with __init__.py) and every module starts with a docstring."""
    fail_on(find_missing_docstrings(ROOT))


# --- the checkers themselves, on a tree small enough to know every answer -----------------

CLEAN_TREE = {
    "milvus/__init__.py": '"""Store."""\nfrom .store import Store\n',
    "milvus/store.py": '"""Store."""\nimport numpy\nclass Store: ...\n',
    "encoders/__init__.py": '"""Encoders."""\n',
    "encoders/base.py": '"""Base."""\nfrom __future__ import annotations\n__version__ = "1"\n',
    "indexers/__init__.py": '"""Indexers."""\n',
    "indexers/images.py": '"""Images."""\nfrom encoders import base\nfrom milvus import Store\n',
    "app/__init__.py": '"""App."""\nfrom encoders.base import __version__\n',
    "app/errors.py": '"""Errors."""\n',
    "app/search/__init__.py": '"""Search."""\nfrom .engine import search\n',
    "app/search/engine.py": (
        '"""Engine."""\nfrom . import images\nfrom .hits import Hit\nfrom ..errors import *\n'
        "def search(): import indexers.images\n"
    ),
    "app/search/hits.py": '"""Hits."""\nfrom app import errors\nclass Hit: ...\n',
    "app/search/images.py": '"""Images."""\nfrom app.search.hits import Hit\n',
    "app/cli/__init__.py": (
        '"""CLI."""\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n'
        "    from app.search import engine\n"
    ),
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_checkers_catch_each_offence(tmp_path: Path):
    """The checkers pass a clean layered tree (relative imports, package re-exports, imports
    in functions and under TYPE_CHECKING) and name each planted offence by file and line."""
    write_tree(tmp_path, CLEAN_TREE)
    assert find_cycles(tmp_path) == []
    assert find_layer_breaks(tmp_path) == []
    assert find_private_uses(tmp_path) == []
    assert find_missing_docstrings(tmp_path) == []
    imports = {(i.importer, i.imported) for i in find_imports(tmp_path)}
    assert ("app.search.engine", "app.search.images") in imports  # from . import images
    assert ("app.search.engine", "app.errors") in imports  # from ..errors import *
    assert ("app.search.engine", "indexers.images") in imports  # import inside a function
    assert ("app.cli", "app.search.engine") in imports  # under TYPE_CHECKING
    assert ("app.search.hits", "app.errors") in imports  # from app import errors
    assert ("milvus", "milvus.store") in imports
    assert not any(imported == "app.search" for _, imported in imports)  # no implicit parents

    write_tree(
        tmp_path,
        {
            # a cycle (with hits) through a function-level import, and an upward import
            "app/errors.py": '"""Errors."""\ndef f():\n    from app.search import hits\n',
            # a kind module importing the engine: a second cycle
            "app/search/images.py": '"""Images."""\nfrom .engine import search\n',
            # a lower layer importing a higher one, and two rank-0 groups importing each other
            "indexers/images.py": '"""Images."""\nimport app.errors\n',
            "encoders/base.py": '"""Base."""\nfrom milvus.store import Store\n',
            # private names: from-import, through a module alias, through an imported class
            "app/cli/__init__.py": (
                '"""CLI."""\nfrom app.search.engine import _rank\nimport app.search.hits as h\n'
                "from milvus import Store\nh._merge()\nStore._connect\nimport app.search\n"
                "app.search.engine._cache\n"
            ),
            # a module of no group, without a docstring, in a folder that is not a package
            "app/stray.py": "x = 1\n",
            "app/pages/home.py": '"""Home."""\n',
        },
    )
    cycles = find_cycles(tmp_path)
    assert cycles == [
        "cycle: app.errors, app.search.hits\n"
        "    app/errors.py:3: app.errors → app.search.hits\n"
        "    app/search/hits.py:2: app.search.hits → app.errors",
        "cycle: app.search.engine, app.search.images\n"
        "    app/search/engine.py:2: app.search.engine → app.search.images\n"
        "    app/search/images.py:2: app.search.images → app.search.engine",
    ]

    breaks = "\n".join(find_layer_breaks(tmp_path))
    assert "app/stray.py: app.stray is in no layer: add it to the layer table" in breaks
    assert "app/pages/home.py: app.pages.home is in no layer" in breaks
    assert "app/errors.py:3: app.errors → app.search.hits (layer 2" in breaks
    assert "indexers/images.py:2: indexers.images → app.errors (layer 1" in breaks
    assert "encoders/base.py:2: encoders.base → milvus.store (layer 0" in breaks
    assert "app/search/images.py:2: app.search.images → app.search.engine (the search engine" in breaks
    assert "app/search/engine.py" not in breaks  # the engine may import the kinds
    assert len(find_layer_breaks(tmp_path)) == 6

    assert find_private_uses(tmp_path) == [
        "app/cli/__init__.py:2: app.cli → app.search.engine: imports _rank",
        "app/cli/__init__.py:5: app.cli → app.search.hits: uses h._merge",
        "app/cli/__init__.py:6: app.cli → milvus: uses Store._connect",
        "app/cli/__init__.py:8: app.cli → app.search.engine: uses app.search.engine._cache",
    ]

    assert find_missing_docstrings(tmp_path) == [
        "app/stray.py: app.stray has no module docstring",
        "app/pages/: not a package (no __init__.py with a docstring)",
    ]
