"""Island sign (Li et al., Stroke 2017;48:3019-3025).

Definition: three or more scattered small hematomas all separate from the main hematoma on an
axial slice, or four or more small hematomas, some or all of which connect with the main one,
bubble-like or sprout-like but not lobules of the main hematoma. Measured per read slice
(signs/components): the separate pieces smaller than the main one (``separate``) and those plus
the bubbles and sprouts on the main piece (``total``); present when a slice has ``separate >=
island_min_separate`` or ``total >= island_min_total``.
"""

from __future__ import annotations

from .components import SlicePieces
from .parameters import SignParameters
from .report import SignResult


def _counts(pieces: SlicePieces) -> tuple[int, int]:
    """(separate, separate + connected bubbles or sprouts) on one slice."""
    separate = len(pieces.separate)
    return separate, separate + len(pieces.sprout_centers_lps_mm)


def detect_island(slices: list[SlicePieces], parameters: SignParameters) -> SignResult:
    """Island sign on the slice with the most small hematomas."""

    def qualifies(pieces: SlicePieces) -> bool:
        separate, total = _counts(pieces)
        return separate >= parameters.island_min_separate or total >= parameters.island_min_total

    qualifying = [p for p in slices if qualifies(p)]
    best = max(qualifying or slices, key=lambda p: _counts(p)[::-1], default=None)
    separate, total = _counts(best) if best else (0, 0)
    quantities = {
        "max_separate": float(max((_counts(p)[0] for p in slices), default=0)),
        "max_total": float(max((_counts(p)[1] for p in slices), default=0)),
        "qualifying_slices": float(len(qualifying)),
        "read_slices": float(len(slices)),
    }
    threshold = (
        f">= {parameters.island_min_separate} separate or >= {parameters.island_min_total} incl. connected"
    )
    evidence: dict = {"threshold": threshold, "measured": f"{separate} separate, {total} in all"}
    if best is not None and total > 0:
        evidence.update(
            z_mm=round(best.z_mm, 2),
            slice_index=best.slice_index,
            separate=[piece.evidence() for piece in best.separate],
            connected_centers_lps_mm=best.sprout_centers_lps_mm,
            summary=f"slice z {best.z_mm:.1f} mm: {separate} separate + {total - separate} connected",
        )
    return SignResult(present=bool(qualifying), quantities=quantities, evidence=evidence)
