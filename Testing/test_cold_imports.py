"""Imports paid only where used: what a fresh process imports for a command, checked in a subprocess.

A cold command pays for every package it imports (torch with torchvision about 4 s, slicer-core
about 2 s on two cores), so the parser, the light commands and the one-case report must not
import them. Each check runs in a fresh interpreter with an import blocker that turns an import of
a named package into an error, so the code path is shown to work without it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "HematomaExpansion"
SCENE = ("slicer", "vtk", "vtkmodules")
NETWORK = ("torch", "torchvision")
TRAINING = ("sklearn", "matplotlib", "pandas", "dask")
HEAVY = (*SCENE, *NETWORK, *TRAINING, "radiomics", "scipy", "SimpleITK", "numpy")


def _run_blocking(blocked: tuple[str, ...], body: str) -> subprocess.CompletedProcess:
    """Run ``body`` in a fresh interpreter in which importing any ``blocked`` package raises ImportError."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ImportError("blocked import: " + name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(MODULE_DIR)!r})
        """
    ) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)


def test_the_blocker_stops_a_blocked_import():
    result = _run_blocking(("torch",), "from HematomaExpansionLib.features.backbone import load_resnet50\n")
    assert result.returncode != 0 and "blocked import: torch" in result.stderr


def test_the_command_line_parser_imports_no_heavy_package():
    result = _run_blocking(
        HEAVY,
        """
        from HematomaExpansionLib.cli import build_parser
        args = build_parser().parse_args(["predict", "--ct", "ct.nrrd", "--hematoma", "h.seg.nrrd", "--out", "o"])
        assert args.command == "predict", args
        """,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_listing_the_models_needs_neither_scene_nor_network():
    result = _run_blocking(
        (*SCENE, *NETWORK, *TRAINING, "radiomics", "scipy", "SimpleITK"),
        """
        from HematomaExpansionLib.cli import main
        assert main(["models"]) == 0
        """,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "phantom-v2-fused" in result.stdout


@pytest.mark.parametrize(
    "module",
    [
        "HematomaExpansionLib.reports.case_outputs",
        "HematomaExpansionLib.reports.case_report",
        "HematomaExpansionLib.model.prediction",
    ],
)
def test_the_prediction_and_its_report_modules_import_no_network_scene_or_plotting(module):
    result = _run_blocking((*SCENE, *NETWORK, *TRAINING, "radiomics"), f"import {module}\n")
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_radiomics_model_predicts_and_writes_its_report_without_torch_scene_or_plotting(tmp_path):
    result = _run_blocking(
        (*SCENE, *NETWORK, *TRAINING),
        f"""
        from pathlib import Path
        from HematomaExpansionLib.model.prediction import predict_case
        from HematomaExpansionLib.model.registry import load_model
        from HematomaExpansionLib.reports.case_outputs import write_prediction
        from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom

        phantom = generate_phantom(HematomaSpec(volume_ml=10.0), seed=2)
        result = predict_case(phantom.ct, phantom.mask, load_model("phantom-v2-radiomics"), device="cpu")
        written = write_prediction(result, Path({str(tmp_path / "out")!r}), "case", None, "")
        print(sorted(path.name for path in written))
        """,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'report.html'" in result.stdout and "slice_z" not in result.stdout
