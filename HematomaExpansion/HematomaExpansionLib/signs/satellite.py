"""Satellite sign (Shimoda et al., Stroke 2017;48:1768-1772).

Definition: a small hematoma (diameter < 10 mm) completely separate from the main hematoma on at
least one axial slice, at a distance of 1 to 20 mm from it. Measured on every read slice
(signs/components), inside and outside the user's segment: each separate piece's largest Feret
diameter and its edge-to-edge gap to the main piece; present when a piece has ``diameter_mm <
satellite_max_diameter_mm`` and ``satellite_min_distance_mm <= gap_mm <= satellite_max_distance_mm``.
"""

from __future__ import annotations

from .components import SeparatePiece, SlicePieces
from .parameters import SignParameters
from .report import SignResult


def detect_satellite(slices: list[SlicePieces], parameters: SignParameters) -> SignResult:
    """Satellite sign: the qualifying piece nearest the main hematoma, else the nearest separate piece."""

    def qualifies(piece: SeparatePiece) -> bool:
        return (
            piece.diameter_mm < parameters.satellite_max_diameter_mm
            and parameters.satellite_min_distance_mm <= piece.gap_mm <= parameters.satellite_max_distance_mm
        )

    pieces = [piece for p in slices for piece in p.separate]
    qualifying = [piece for piece in pieces if qualifies(piece)]
    best = min(qualifying or pieces, key=lambda piece: piece.gap_mm, default=None)
    quantities = {
        "qualifying_pieces": float(len(qualifying)),
        "separate_pieces": float(len(pieces)),
        "outside_segment_pieces": float(sum(not piece.in_segment for piece in qualifying)),
        "diameter_mm": best.diameter_mm if best else float("nan"),
        "gap_mm": best.gap_mm if best else float("nan"),
    }
    threshold = (
        f"diameter < {parameters.satellite_max_diameter_mm:g} mm, gap "
        f"{parameters.satellite_min_distance_mm:g}-{parameters.satellite_max_distance_mm:g} mm"
    )
    evidence: dict = {"threshold": threshold, "measured": "no separate piece", "summary": ""}
    if best is not None:
        x, y, z = best.center_lps_mm
        evidence.update(best.evidence())
        evidence["measured"] = f"{best.diameter_mm:.1f} mm, {best.gap_mm:.1f} mm away"
        evidence["summary"] = f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm, slice z {z:.1f} mm" + (
            "" if best.in_segment else ", outside the segment"
        )
    return SignResult(present=bool(qualifying), quantities=quantities, evidence=evidence)
