"""The README's batch-mode example script, run as Slicer would run it (here on slicer-core)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "Examples" / "batch_predict.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_batch_script_predicts_with_the_bundled_model_and_refuses_bad_input(tmp_path):
    phantom = generate_phantom(HematomaSpec(volume_ml=25.0, lobulation=0.2), preset="clinical", seed=12)
    paths = write_case(phantom, tmp_path, "case")
    out = tmp_path / "out"
    result = run_script("--ct", str(paths["ct"]), "--hematoma", str(paths["hematoma"]), "--out", str(out))
    assert result.returncode == 0, result.stderr
    prediction = json.loads((out / "prediction.json").read_text())
    assert 0.0 <= prediction["probability"] <= 1.0
    volume_ml = prediction["measurements"]["volume_ml"]
    assert abs(volume_ml - phantom.truth["volume_ml"]) < 1e-6 * phantom.truth["volume_ml"]
    assert (out / "report.html").is_file() and len(list((out / "slices").glob("*.png"))) == 5
    assert "risk of expansion" in result.stdout

    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "notes.txt").write_text("a user's notes")
    mixed = run_script(
        "--ct", str(paths["ct"]), "--hematoma", str(paths["hematoma"]), "--out", str(tmp_path / "mixed")
    )
    assert mixed.returncode == 2 and mixed.stderr.count("\n") == 1 and "--overwrite" in mixed.stderr
    assert sorted(p.name for p in (tmp_path / "mixed").iterdir()) == ["notes.txt"]

    bad = run_script(
        "--ct", str(paths["hematoma"]), "--hematoma", str(paths["hematoma"]), "--out", str(tmp_path / "bad")
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert not (tmp_path / "bad").exists()
