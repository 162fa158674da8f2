"""Any hypodensity, with the swirl sign (Boulouis et al., Neurology 2016;86:1714; Selariu et al., 2012).

Definitions: any hypodense region inside the hematoma, of any shape, size and density (Boulouis;
the BAT score's "any intrahematoma hypodensity"); the swirl sign, regions of hypo- or
isoattenuation compared with brain parenchyma inside the hyperattenuating hematoma, any shape
(Selariu et al., BMC Neurol 2012;12:109). "Any density" cannot be measured against CT noise, so a
region counts from ``hypodensity_min_difference_hu`` below the clot next to it and from
``region_min_area_mm2`` (project choices); encapsulation and margin do not matter. Swirl: the
qualifying regions whose mean HU is at most ``isoattenuating_tolerance_hu`` above the brain's
(``swirl_regions``; brain HU read 2-8 mm outside the hematoma).
"""

from __future__ import annotations

from .parameters import SignParameters
from .region_sign import region_sign
from .regions import DensityAnalysis, DensityRegion
from .report import SignResult


def detect_hypodensity(analysis: DensityAnalysis, parameters: SignParameters) -> SignResult:
    """Any hypodensity: a region >= ``hypodensity_min_difference_hu`` below the clot; swirl counted with it."""

    def swirl(qualifying: list[DensityRegion]) -> dict[str, float]:
        limit = analysis.brain_hu + parameters.isoattenuating_tolerance_hu
        return {
            "brain_hu": analysis.brain_hu,
            "swirl_regions": float(sum(r.mean_hu <= limit for r in qualifying)),
        }

    return region_sign(
        analysis,
        lambda r: True,
        parameters.hypodensity_min_difference_hu,
        f">= {parameters.hypodensity_min_difference_hu:g} HU, any shape",
        swirl,
    )
