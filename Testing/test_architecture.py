"""Architecture rules read from the Lib's source with ``ast``: layers, no import cycles, size limits.

The static counterpart of test_packaging's runtime import blocker: every import statement counts,
at module level, inside functions and under ``if TYPE_CHECKING:``. Each rule is also run on a
deliberately broken copy, to show that it can fail.
"""

from __future__ import annotations

import ast
import shutil
from collections import deque
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
LIB_DIR = ROOT / "HematomaExpansion" / "HematomaExpansionLib"
# The web front-end: beside the Lib, may import slicer/vtk/trame, never imported by the Lib.
WEB_DIR = ROOT / "HematomaExpansion" / "HematomaExpansionWeb"
SLICER_PACKAGES = frozenset({"slicer", "vtk", "vtkmodules", "qt", "ctk"})
CORE_PACKAGES = ("common", "imaging", "features", "model", "evaluation", "reports", "cohort", "synthetic")
# Layer of each top-level entry of the Lib; a module imports nothing from a higher layer. Only the
# MRML adapter imports Slicer (the module file and the web front-end are outside the Lib); the command
# line reaches Slicer through it.
LAYERS = {**dict.fromkeys(CORE_PACKAGES, 0), "mrml": 1, "cli": 2, "__main__": 2}
SLICER_LAYER = 1
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


class Import(NamedTuple):
    """One imported name: ``import module`` (name None) or ``from module import name``."""

    line: int
    module: str  # absolute
    name: str | None
    relative: bool = False


def lib_modules(lib_dir: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``lib_dir``; a package is its ``__init__.py``."""
    modules = {}
    for path in sorted(lib_dir.rglob("*.py")):
        parts = (lib_dir.name, *path.relative_to(lib_dir).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import in the file, wherever it stands, with relative imports made absolute.

    ``importlib.import_module("x")`` and ``__import__("x")`` with a literal name count too.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            found += [Import(node.lineno, base, alias.name, node.level > 0) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(node.lineno, node.args[0].value, None))
    return found


def _layer(lib_dir: Path, path: Path) -> int | None:
    """The layer of a Lib file (None for the package's own ``__init__.py``, the public facade)."""
    return LAYERS.get(path.relative_to(lib_dir).parts[0].removesuffix(".py"))


def slicer_imports(lib_dir: Path) -> list[str]:
    """'file:line imports name' for each Slicer/VTK/Qt/CTK import outside the MRML adapter."""
    offenders = []
    for module, path in lib_modules(lib_dir).items():
        layer = _layer(lib_dir, path)
        if layer == SLICER_LAYER:
            continue
        for item in imports_of(module, path):
            if item.module.split(".")[0] in SLICER_PACKAGES:
                where = path.relative_to(lib_dir.parent).as_posix()
                offenders.append(f"{where}:{item.line} imports {item.module}")
    return offenders


def absolute_self_imports(lib_dir: Path) -> list[str]:
    """'file:line imports name' for each import of the Lib by its own name (it imports itself relatively)."""
    return [
        f"{path.relative_to(lib_dir.parent).as_posix()}:{item.line} imports {item.module}"
        for module, path in lib_modules(lib_dir).items()
        for item in imports_of(module, path)
        if not item.relative and item.module.split(".")[0] == lib_dir.name
    ]


def _target(item: Import, modules: dict[str, Path]) -> str | None:
    """The Lib module an import loads: for ``from p import m`` module p.m if there is one, else p;
    for ``import a.b.c`` the deepest of a.b.c, a.b, a that is a Lib module (None outside the Lib)."""
    if item.name is not None and f"{item.module}.{item.name}" in modules:
        return f"{item.module}.{item.name}"
    name = item.module
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(lib_dir: Path) -> dict[str, set[str]]:
    """Module -> the Lib modules it imports (self-imports left out)."""
    modules = lib_modules(lib_dir)
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        for item in imports_of(module, path):
            target = _target(item, modules)
            if target is not None and target != module:
                graph[module].add(target)
    return graph


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; each component sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """A shortest import path from ``start`` back to itself inside one component."""
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node] & members):
            if successor == start:
                return [*paths[node], start]
            if successor not in paths:
                paths[successor] = [*paths[node], successor]
                queue.append(successor)
    raise AssertionError(f"{start} is in no cycle")


def import_cycles(lib_dir: Path) -> list[str]:
    """One 'a -> b -> a' per group of modules that import each other, directly or not."""
    graph = import_graph(lib_dir)
    cycles = []
    for component in strongly_connected_components(graph):
        if len(component) > 1:
            cycle = " -> ".join(_shortest_cycle(graph, component[0], set(component)))
            cycles.append(cycle if len(component) == 2 else f"{cycle} (with {', '.join(component)})")
    return cycles


def layer_violations(lib_dir: Path) -> list[str]:
    """'module imports module' where a lower layer imports a higher one (core -> mrml -> cli)."""
    modules = lib_modules(lib_dir)
    layer = {module: _layer(lib_dir, path) for module, path in modules.items()}
    return [
        f"{module} imports {target}"
        for module, targets in sorted(import_graph(lib_dir).items())
        for target in sorted(targets)
        if layer[module] is not None and layer[target] is not None and layer[target] > layer[module]
    ]


def long_modules(lib_dir: Path) -> list[str]:
    """'file: N lines' for each module over MAX_MODULE_LINES."""
    lengths = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in sorted(lib_dir.rglob("*.py"))}
    return [
        f"{p.relative_to(lib_dir.parent).as_posix()}: {n} lines"
        for p, n in lengths.items()
        if n > MAX_MODULE_LINES
    ]


def long_functions(lib_dir: Path) -> list[str]:
    """'file:line name: N lines' for each function over MAX_FUNCTION_LINES (def line to last line)."""
    found = []
    for path in sorted(lib_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = path.relative_to(lib_dir.parent).as_posix()
                    found.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    return found


def write_package(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text) under ``root``; returns ``root``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_the_lib_is_read_whole():
    modules = lib_modules(LIB_DIR)
    graph = import_graph(LIB_DIR)
    assert len(modules) > 40 and {f"HematomaExpansionLib.{p}" for p in CORE_PACKAGES} <= set(modules)
    assert "HematomaExpansionLib.cli" in graph["HematomaExpansionLib.__main__"]
    assert sum(map(len, graph.values())) > 80


def test_only_the_mrml_adapter_imports_slicer_vtk_qt_ctk():
    found = slicer_imports(LIB_DIR)
    assert found == [], "\n".join(found)


def test_the_slicer_import_check_fails_on_a_mutated_copy(tmp_path):
    copy = tmp_path / LIB_DIR.name
    shutil.copytree(LIB_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    write_package(
        copy,
        {
            "imaging/mutant.py": "def f():\n    import vtk\n",
            "features/typed.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from slicer import util\n",
            "model/dynamic.py": 'import importlib\n\nQT = importlib.import_module("qt.QtCore")\n',
            "reports/ctk_later.py": "try:\n    import ctk, numpy\nexcept ImportError:\n    pass\n",
            "mrml/allowed.py": "import vtkmodules.all\nimport slicer\n",
        },
    )
    assert set(slicer_imports(copy)) - set(slicer_imports(LIB_DIR)) == {
        "HematomaExpansionLib/imaging/mutant.py:2 imports vtk",
        "HematomaExpansionLib/features/typed.py:4 imports slicer",
        "HematomaExpansionLib/model/dynamic.py:3 imports qt.QtCore",
        "HematomaExpansionLib/reports/ctk_later.py:2 imports ctk",
    }


def test_the_lib_imports_its_own_modules_relatively():
    found = absolute_self_imports(LIB_DIR)
    assert found == [], "\n".join(found)


def test_lower_layers_never_import_higher_ones():
    """The core imports neither the MRML adapter nor the command line; the adapter not the command line."""
    found = layer_violations(LIB_DIR)
    assert found == [], "\n".join(found)


# The statistics of evaluation/ sit below model/ (which takes its threshold from thresholds.py);
# the training and evaluation runs of evaluation/ sit above it.
STATISTICS_MODULES = ("inputs", "roc", "thresholds", "decision_curves", "calibration_metrics")


def test_the_statistics_modules_depend_only_on_common_and_each_other():
    graph = import_graph(LIB_DIR)
    allowed = {f"HematomaExpansionLib.evaluation.{m}" for m in STATISTICS_MODULES}
    found = [
        f"{module} imports {target}"
        for module in sorted(allowed)
        for target in sorted(graph[module])
        if target not in allowed and not target.startswith("HematomaExpansionLib.common")
    ]
    assert found == [], "\n".join(found)


def test_no_import_cycle_between_the_lib_modules():
    found = import_cycles(LIB_DIR)
    assert found == [], "\n".join(found)


def test_the_import_graph_resolves_every_kind_of_import_and_finds_the_cycle(tmp_path):
    """A package whose cycle runs through a function-level ``from . import b``, an absolute import under
    TYPE_CHECKING and ``from .. import name`` (which loads the package's ``__init__``)."""
    package = write_package(
        tmp_path / "fakelib",
        {
            "__init__.py": "from .a import thing\n",
            "a.py": "def thing():\n    from . import b\n\n    return b\n",
            "b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import fakelib.sub.c\n",
            "sub/__init__.py": "",
            "sub/c.py": "import os\n\nfrom .. import thing\n",
            "d.py": "from .sub import c\nfrom .a import thing as _\n",
        },
    )
    assert import_graph(package) == {
        "fakelib": {"fakelib.a"},
        "fakelib.a": {"fakelib.b"},
        "fakelib.b": {"fakelib.sub.c"},
        "fakelib.sub": set(),
        "fakelib.sub.c": {"fakelib"},
        "fakelib.d": {"fakelib.sub.c", "fakelib.a"},
    }
    assert import_cycles(package) == [
        "fakelib -> fakelib.a -> fakelib.b -> fakelib.sub.c -> fakelib"
        " (with fakelib, fakelib.a, fakelib.b, fakelib.sub.c)"
    ]
    write_package(package, {"d.py": "from . import e\n", "e.py": "from .d import x\n"})
    assert "fakelib.d -> fakelib.e -> fakelib.d" in import_cycles(package)
    assert absolute_self_imports(package) == ["fakelib/b.py:4 imports fakelib.sub.c"]


def test_the_layer_check_fails_when_the_core_imports_the_adapter(tmp_path):
    copy = tmp_path / LIB_DIR.name
    shutil.copytree(LIB_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    write_package(copy, {"cohort/mutant.py": "def f():\n    from .. import mrml, cli\n"})
    assert set(layer_violations(copy)) - set(layer_violations(LIB_DIR)) == {
        "HematomaExpansionLib.cohort.mutant imports HematomaExpansionLib.cli",
        "HematomaExpansionLib.cohort.mutant imports HematomaExpansionLib.mrml",
    }


def test_no_lib_module_is_over_450_lines():
    found = long_modules(LIB_DIR)
    assert found == [], "\n".join(found)


def test_no_lib_function_is_over_80_lines():
    found = long_functions(LIB_DIR)
    assert found == [], "\n".join(found)


def imports_of_package(lib_dir: Path, package: str) -> list[str]:
    """'file:line imports name' for each import of ``package`` by a module under ``lib_dir``."""
    return [
        f"{path.relative_to(lib_dir.parent).as_posix()}:{item.line} imports {item.module}"
        for module, path in lib_modules(lib_dir).items()
        for item in imports_of(module, path)
        if item.module.split(".")[0] == package
    ]


def test_the_web_front_end_has_no_cycle_fits_the_size_limits_and_the_lib_never_imports_it():
    assert len(lib_modules(WEB_DIR)) > 5
    found = [*import_cycles(WEB_DIR), *long_modules(WEB_DIR), *long_functions(WEB_DIR)]
    found += imports_of_package(LIB_DIR, WEB_DIR.name)
    assert found == [], "\n".join(found)


def test_the_web_import_check_fails_on_a_mutated_copy(tmp_path):
    copy = tmp_path / LIB_DIR.name
    shutil.copytree(LIB_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    write_package(copy, {"reports/mutant.py": "def f():\n    from HematomaExpansionWeb import session\n"})
    assert imports_of_package(copy, WEB_DIR.name) == [
        "HematomaExpansionLib/reports/mutant.py:2 imports HematomaExpansionWeb"
    ]


def test_the_size_checks_fail_on_a_long_module_and_a_long_function(tmp_path):
    def body(lines: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))

    package = write_package(
        tmp_path / "fakelib",
        {
            "long.py": "\n" * (MAX_MODULE_LINES + 1),
            "fits.py": "def fits():\n" + body(MAX_FUNCTION_LINES - 1, "    "),
            "over.py": "class A:\n    @staticmethod\n    def over():\n"
            + body(MAX_FUNCTION_LINES, "        "),
        },
    )
    assert long_modules(package) == [f"fakelib/long.py: {MAX_MODULE_LINES + 1} lines"]
    assert long_functions(package) == [f"fakelib/over.py:3 over: {MAX_FUNCTION_LINES + 1} lines"]
