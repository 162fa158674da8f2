"""``measure_signs``: every conventional sign of one CT and hematoma mask, on the canonical axial grid."""

from __future__ import annotations

import logging

import SimpleITK as sitk

from ..common.versions import software_versions
from ..imaging.checks import validate_ct, validate_mask
from .barras import barras_scores
from .bat import bat_score, check_onset_to_ct_h
from .black_hole import detect_black_hole
from .blend import detect_blend
from .components import analyse_pieces
from .hypodensity import detect_hypodensity
from .island import detect_island
from .parameters import SignParameters
from .regions import analyse_density
from .report import SignsReport
from .satellite import detect_satellite
from .volume import sign_volume

DEFAULT_PARAMETERS = SignParameters()
logger = logging.getLogger(__name__)


def measure_signs(
    ct: sitk.Image,
    mask: sitk.Image,
    parameters: SignParameters = DEFAULT_PARAMETERS,
    onset_to_ct_h: float | None = None,
    *,
    ct_source: str = "CT",
    mask_source: str = "hematoma segment",
) -> SignsReport:
    """Measure the blend, black hole, hypodensity, island and satellite signs, Barras and BAT.

    ``ct`` in HU and ``mask`` (non-zero = hematoma) share one voxel grid; oblique or permuted
    volumes are brought to the canonical axial grid (imaging/geometry), the inputs are never
    modified. ``onset_to_ct_h`` (hours) enters the BAT score; without it ``bat_score`` is None.
    Bad input raises InputError naming ``ct_source`` or ``mask_source``.
    """
    validate_ct(ct, ct_source)
    validate_mask(mask, ct, mask_source, ct_source)
    onset = check_onset_to_ct_h(onset_to_ct_h)
    volume = sign_volume(ct, mask, parameters)
    density = analyse_density(volume, parameters)
    slices = analyse_pieces(volume, parameters)
    signs = {
        "blend": detect_blend(density, parameters),
        "black_hole": detect_black_hole(density, parameters),
        "hypodensity": detect_hypodensity(density, parameters),
        "island": detect_island(slices, parameters),
        "satellite": detect_satellite(slices, parameters),
    }
    shape, density_category, barras = barras_scores(volume, slices, density, parameters)
    score, bat = bat_score(signs["blend"], signs["hypodensity"], onset, parameters)
    report = SignsReport(
        signs=signs,
        barras_shape=shape,
        barras_density=density_category,
        bat_score=score,
        barras=barras,
        bat=bat,
        onset_to_ct_h=onset,
        parameters=parameters,
        provenance={
            "software": software_versions(("numpy", "scipy", "SimpleITK")),
            "parameters_sha256": parameters.sha256(),
            "grid": volume.grid,
            "largest_cross_section_z_mm": volume.cross_section.z_mm,
            "ct": ct_source,
            "hematoma": mask_source,
        },
    )
    logger.info("conventional signs of %s: %s", mask_source, ", ".join(report.present) or "none measured")
    return report
