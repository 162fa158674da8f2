"""A sign's yes/no from the measured hypoattenuating regions: the strongest eligible region decides."""

from __future__ import annotations

from collections.abc import Callable

from .regions import DensityAnalysis, DensityRegion
from .report import SignResult


def region_sign(
    analysis: DensityAnalysis,
    eligible: Callable[[DensityRegion], bool],
    min_difference_hu: float,
    threshold_text: str,
    extra_quantities: Callable[[list[DensityRegion]], dict[str, float]] | None = None,
) -> SignResult:
    """Present when an eligible region is at least ``min_difference_hu`` below the clot next to it.

    The evidence is the qualifying region with the largest difference, or, when none qualifies,
    the eligible region that came closest (so a "no" shows what was measured).
    """
    candidates = [r for r in analysis.regions if eligible(r)]
    qualifying = [r for r in candidates if r.difference_hu >= min_difference_hu]
    best = max(qualifying or candidates, key=lambda r: r.difference_hu, default=None)
    quantities = {
        "max_difference_hu": best.difference_hu if best else float("nan"),
        "qualifying_regions": float(len(qualifying)),
        "eligible_regions": float(len(candidates)),
        "measured_regions": float(len(analysis.regions)),
        "clot_hu": analysis.clot_hu,
    }
    if extra_quantities is not None:
        quantities.update(extra_quantities(qualifying))
    evidence: dict = {"threshold": threshold_text}
    if best is None:
        evidence.update(measured="no region", summary="")
    else:
        evidence.update(best.evidence())
        evidence["measured"] = f"{best.difference_hu:.1f} HU"
        x, y, z = best.center_lps_mm
        evidence["summary"] = (
            f"{best.area_mm2:.0f} mm2 at LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm, slice z {z:.1f} mm"
        )
    return SignResult(present=bool(qualifying), quantities=quantities, evidence=evidence)
