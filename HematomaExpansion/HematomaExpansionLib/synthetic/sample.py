"""The bundled sample case: a clinical-geometry phantom with a 30 mL hematoma, made on demand."""

from __future__ import annotations

from pathlib import Path

from .case_files import write_case
from .phantom import generate_phantom
from .spec import HematomaSpec

SAMPLE_SPEC_KWARGS = {"volume_ml": 30.0, "lobulation": 0.15, "heterogeneity_hu": 4.0, "n_hypodense_foci": 1}
SAMPLE_SEED = 7


def write_sample_case(out_dir: Path) -> dict[str, Path]:
    """Write the sample (0.45 x 0.45 x 5 mm CT, 30 mL hematoma); returns the paths by kind."""
    phantom = generate_phantom(HematomaSpec(**SAMPLE_SPEC_KWARGS), preset="clinical", seed=SAMPLE_SEED)
    return write_case(phantom, out_dir, "sample")
