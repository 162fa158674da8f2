"""The README's Python example, run as written on the sample case (saved under the names it uses)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import SimpleITK as sitk

from cohort_fixtures import mask_volume_ml
from HematomaExpansionLib.model.registry import DEFAULT_MODEL_ID, load_model
from HematomaExpansionLib.synthetic.sample import write_sample_case

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE_REFERENCE = Path(__file__).resolve().parent / "reference" / "bundled_model_sample.json"


def readme_python() -> str:
    """The fenced ``python`` blocks of the README, in order."""
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert blocks, "README.md has no python example"
    return "\n".join(blocks)


def test_readme_python_example_predicts_the_sample_case(tmp_path):
    code = readme_python()
    files = re.findall(r'"(\w+_ct\.nrrd)"|"(\w+_hematoma\.seg\.nrrd)"', code)
    assert len(files) == 2, "the example loads one CT and one segmentation file"
    ct_name, hematoma_name = files[0][0], files[1][1]
    paths = write_sample_case(tmp_path)
    paths["ct"].rename(tmp_path / ct_name)
    paths["hematoma"].rename(tmp_path / hematoma_name)
    (tmp_path / "example.py").write_text(code, encoding="utf-8")

    env = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}
    result = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]

    # The sample's risk as recorded when the bundled model was made, in the words the result prints.
    bundle = load_model(DEFAULT_MODEL_ID)
    probability = json.loads(SAMPLE_REFERENCE.read_text())["models"][DEFAULT_MODEL_ID]["sklearn_probability"]
    risk_text = (
        f"{probability:.0%} - {bundle.category(probability)} risk of expansion "
        f"(model threshold {bundle.threshold:.0%})"
    )
    printed = result.stdout.strip().splitlines()[-1]
    assert printed.startswith(risk_text + " "), result.stdout
    volume_ml = mask_volume_ml(sitk.ReadImage(str(tmp_path / hematoma_name)))
    assert abs(float(printed.removeprefix(risk_text + " ")) - volume_ml) < 1e-6 * volume_ml
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ct_name, hematoma_name, "example.py"])
