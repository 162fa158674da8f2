"""Blend sign (Li et al., Stroke 2015;46:2119-2123).

Definition: a relatively hypoattenuating region next to a hyperattenuating one inside the
hematoma, with a well-defined margin between them, a mean CT attenuation difference of at least
18 HU between the two regions, the hypoattenuating region not encapsulated by the hyperattenuating
one. Measured: the mean-HU difference of each region and its adjacent clot band
(``difference_hu``), the border's transition width (well-defined: at most ``margin_max_width_mm``)
and the share of its border in dense clot (not encapsulated: below ``encapsulated_min_fraction``).
"""

from __future__ import annotations

from .parameters import SignParameters
from .region_sign import region_sign
from .regions import DensityAnalysis
from .report import SignResult


def detect_blend(analysis: DensityAnalysis, parameters: SignParameters) -> SignResult:
    """Blend sign: a well-margined, not encapsulated region >= ``blend_min_difference_hu`` below the clot."""
    return region_sign(
        analysis,
        lambda r: r.well_defined(parameters) and not r.encapsulated(parameters),
        parameters.blend_min_difference_hu,
        f">= {parameters.blend_min_difference_hu:g} HU, well-defined margin, not encapsulated",
    )
