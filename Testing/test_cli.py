"""The command line in a subprocess, as a user runs it: outputs, exit codes and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}
    return subprocess.run(
        [sys.executable, "-m", "HematomaExpansionLib", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    phantom = generate_phantom(HematomaSpec(volume_ml=12.0), preset="clinical", seed=11)
    return phantom, write_case(phantom, tmp_path_factory.mktemp("case"), "c1")


def test_measure_prints_and_writes_csv(case, tmp_path):
    phantom, paths = case
    result = run_cli(
        "measure", "--ct", str(paths["ct"]), "--hematoma", str(paths["hematoma"]), "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "volume_ml" in result.stdout
    with (tmp_path / "measurements.csv").open() as stream:
        rows = {row["measurement"]: row for row in csv.DictReader(stream)}
    assert float(rows["volume_ml"]["value"]) == pytest.approx(phantom.truth["volume_ml"], rel=1e-6)
    assert rows["volume_ml"]["unit"] == "mL"


def test_extract_writes_features_provenance_and_slice_pngs(case, tmp_path):
    _, paths = case
    result = run_cli(
        "extract",
        "--ct",
        str(paths["ct"]),
        "--hematoma",
        str(paths["hematoma"]),
        "--out",
        str(tmp_path),
        "--weights",
        "random:0",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "features.json").read_text())
    features = document["features"]
    assert sum(name.startswith("deep_resnet50_mean_") for name in features) == 2048
    assert "original_shape_VoxelVolume" in features
    assert not any(name.startswith("diagnostics_") for name in features)
    identity = document["provenance"]["extractor_identity"]
    assert identity["backbone_id"] == "random:0" and len(identity["radiomics_params_sha256"]) == 64
    with (tmp_path / "features.csv").open() as stream:
        assert sum(1 for _ in csv.DictReader(stream)) == len(features)
    pngs = sorted(p.name for p in (tmp_path / "slices").glob("*.png"))
    assert pngs == sorted(f"slice_z{offset:+g}mm.png" for offset in (-2, -1, 0, 1, 2))
    assert "warning:" in result.stdout and "interpolated" in result.stdout  # 5 mm slices


def test_bad_input_is_one_line_error_with_exit_code_2(case, tmp_path):
    _, paths = case
    missing = tmp_path / "missing.nrrd"
    result = run_cli("measure", "--ct", str(missing), "--hematoma", str(paths["hematoma"]))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: CT file not found") and str(missing) in result.stderr

    result = run_cli(
        "measure", "--ct", str(paths["ct"]), "--hematoma", str(paths["hematoma"]), "--segment", "Oedema"
    )
    assert result.returncode == 2 and "Segment 'Oedema' not found" in result.stderr


def test_offline_imagenet_weights_give_a_clear_message(case, tmp_path):
    _, paths = case
    env_home = tmp_path / "torch_home"
    os.environ["TORCH_HOME"] = str(env_home)
    try:
        result = run_cli(
            "extract",
            "--ct",
            str(paths["ct"]),
            "--hematoma",
            str(paths["hematoma"]),
            "--out",
            str(tmp_path / "o"),
            "--families",
            "deep",
        )
    finally:
        del os.environ["TORCH_HOME"]
    assert result.returncode == 2
    assert "resnet50-0676ba61.pth" in result.stderr and str(env_home) in result.stderr
    assert not (tmp_path / "o").exists()


def test_package_api_is_lazy_and_every_public_name_resolves():
    """Importing the package loads no heavy or Slicer module; each public name imports on first use."""
    script = """
import sys
import HematomaExpansionLib as lib
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "torch", "radiomics", "slicer", "vtk"))
assert heavy == [], heavy
assert lib.__version__ and "predict_case" in lib.__all__ and "extract_cohort" in lib.__all__
unresolved = [name for name in lib.__all__ if getattr(lib, name, None) is None]
assert unresolved == [], unresolved
import HematomaExpansionLib.cohort as cohort
assert [name for name in cohort.__all__ if getattr(cohort, name, None) is None] == []
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
