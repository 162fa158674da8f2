"""Packaging checks: the module CMakeLists lists every file, and the core stays free of Slicer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "HematomaExpansion"
LIB_DIR = MODULE_DIR / "HematomaExpansionLib"
# The web front-end lies beside the module but is not part of the Slicer extension (not in CMakeLists).
WEB_DIR = MODULE_DIR / "HematomaExpansionWeb"
# The only package allowed to import Slicer/VTK: the MRML adapter (runtime, volumes, loading, segments,
# tables, the node-level logic, self-test scenarios, cohort jobs). The command line reaches the scene
# only through it (and the module file HematomaExpansion.py lies outside the Lib).
MRML_LAYER = {"mrml"}
FORBIDDEN = ("slicer", "vtk", "vtkmodules", "qt", "ctk")


def _cmake_listed_files() -> set[str]:
    text = (MODULE_DIR / "CMakeLists.txt").read_text()
    text = text.replace("${MODULE_NAME}", "HematomaExpansion")
    return set(re.findall(r"^\s+([\w./-]+\.(?:py|ui|png|yaml|txt|json|npz))\s*$", text, flags=re.MULTILINE))


def _module_files() -> set[str]:
    files = set()
    for path in MODULE_DIR.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts or path.name == "CMakeLists.txt":
            continue
        if path.is_relative_to(WEB_DIR):
            continue
        files.add(path.relative_to(MODULE_DIR).as_posix())
    return files


def test_every_module_file_is_listed_in_cmakelists():
    listed = _cmake_listed_files()
    missing = sorted(_module_files() - listed)
    stale = sorted(listed - _module_files())
    assert not missing, f"not listed in HematomaExpansion/CMakeLists.txt: {missing}"
    assert not stale, f"listed in HematomaExpansion/CMakeLists.txt but missing: {stale}"


def test_cmakelists_registers_scripted_module_and_unittest():
    text = (MODULE_DIR / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule(" in text
    assert "WITH_GENERIC_TESTS" in text
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    top = (ROOT / "CMakeLists.txt").read_text()
    assert re.search(r'set\(EXTENSION_DEPENDS "[^"]*SlicerRadiomics[^"]*PyTorch[^"]*"\)', top)
    assert "add_subdirectory(HematomaExpansion)" in top


# Preamble of a child interpreter in which importing Slicer, VTK, Qt or CTK raises ImportError.
BLOCKER = f"""
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {FORBIDDEN!r}:
            raise ImportError("forbidden import in the core: " + name)
sys.meta_path.insert(0, Block())
"""
CORE_MODULES = sorted(
    ".".join(p.relative_to(LIB_DIR).with_suffix("").parts).removesuffix(".__init__")
    for p in LIB_DIR.rglob("*.py")
    if p.relative_to(LIB_DIR).parts[0].removesuffix(".py") not in MRML_LAYER and p.name != "__main__.py"
)


def test_core_modules_import_no_slicer_qt_vtk_ctk():
    """Import every core module in a fresh interpreter that refuses Slicer, Qt, CTK and VTK imports."""
    script = f"""
{BLOCKER}sys.path.insert(0, {str(MODULE_DIR)!r})
failed = []
for module in {CORE_MODULES!r}:
    try:
        importlib.import_module("HematomaExpansionLib." + module)
    except ImportError as error:
        failed.append(module + ": " + str(error))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert len(CORE_MODULES) > 20
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_the_import_blocker_catches_a_slicer_import(tmp_path):
    """The check above can fail: a module importing vtk is reported."""
    package = tmp_path / "fakelib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "uses_vtk.py").write_text("import vtk\n")
    script = f"""
{BLOCKER}sys.path.insert(0, {str(tmp_path)!r})
importlib.import_module("fakelib.uses_vtk")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "forbidden import in the core: vtk" in result.stderr


def test_mrml_layer_is_what_the_design_says():
    """Slicer imports appear only in the MRML layer modules (a static scan of import lines)."""
    pattern = re.compile(r"^\s*(?:import|from)\s+(slicer|vtk|vtkmodules|qt|ctk)\b", flags=re.MULTILINE)
    offenders = [
        p.name
        for p in LIB_DIR.rglob("*.py")
        if p.relative_to(LIB_DIR).parts[0].removesuffix(".py") not in MRML_LAYER
        and pattern.search(p.read_text())
    ]
    assert offenders == []


FIRST_USE_PACKAGES = ("torch", "torchvision", "radiomics", "sklearn", "scipy", "matplotlib", "PIL")


def test_module_file_loads_before_first_use_installation():
    """What HematomaExpansion.py imports at load time needs none of the packages installed at first use."""
    imported = re.findall(
        r"^from (HematomaExpansionLib(?:\.\w+)+) import",
        (MODULE_DIR / "HematomaExpansion.py").read_text(),
        re.M,
    )
    assert "HematomaExpansionLib.mrml.logic" in imported
    script = f"""
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {FIRST_USE_PACKAGES!r}:
            raise ImportError("imported at module load: " + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(MODULE_DIR)!r})
for module in {imported!r}:
    importlib.import_module(module)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
