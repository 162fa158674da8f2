"""Black hole sign (Li et al., Stroke 2016;47:1777-1781).

Definition: a relatively hypoattenuating region encapsulated within the hyperattenuating hematoma,
of any shape, not connected with the adjacent brain tissue, with a recognisable border, and a
difference of at least 28 HU between the two regions. Measured: the region's share of border
pixels in dense clot (encapsulated: at least ``encapsulated_min_fraction``, which also means not
connected with the brain outside the hematoma), its border's transition width (recognisable: at
most ``margin_max_width_mm``) and its mean-HU difference from the adjacent clot band.
"""

from __future__ import annotations

from .parameters import SignParameters
from .region_sign import region_sign
from .regions import DensityAnalysis
from .report import SignResult


def detect_black_hole(analysis: DensityAnalysis, parameters: SignParameters) -> SignResult:
    """Black hole sign: an encapsulated, bordered region >= ``black_hole_min_difference_hu`` below the clot."""
    return region_sign(
        analysis,
        lambda r: r.well_defined(parameters) and r.encapsulated(parameters),
        parameters.black_hole_min_difference_hu,
        f">= {parameters.black_hole_min_difference_hu:g} HU, encapsulated, recognisable border",
    )
