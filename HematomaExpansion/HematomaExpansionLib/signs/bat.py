"""BAT score (Morotti et al., Stroke 2018;49:1163-1169): Blend sign, Any hypodensity, Timing.

Points: blend sign 1, any intrahematoma hypodensity 2, onset-to-CT time < 2.5 h 2 (0-5); a score
of 3 or more predicted expansion. Without an onset-to-CT time the score is not defined (None); the
points of the two imaging items are still reported.
"""

from __future__ import annotations

import math
from typing import Any

from ..common.errors import InputError
from .parameters import SignParameters
from .report import SignResult

BLEND_POINTS = 1
HYPODENSITY_POINTS = 2
TIMING_POINTS = 2


def check_onset_to_ct_h(onset_to_ct_h: float | None) -> float | None:
    """The onset-to-CT time in hours, refused when negative or not a number."""
    if onset_to_ct_h is None:
        return None
    value = float(onset_to_ct_h)
    if not math.isfinite(value) or value < 0:
        raise InputError(
            f"onset-to-CT time {onset_to_ct_h!r} h is not a time: give the hours from symptom onset to the CT "
            "as a number >= 0, or leave it out"
        )
    return value


def bat_score(
    blend: SignResult, hypodensity: SignResult, onset_to_ct_h: float | None, parameters: SignParameters
) -> tuple[int | None, dict[str, Any]]:
    """(score or None, its points and whether it reaches the high-risk cut-off)."""
    imaging = BLEND_POINTS * blend.present + HYPODENSITY_POINTS * hypodensity.present
    timing = None
    if onset_to_ct_h is not None:
        timing = TIMING_POINTS if onset_to_ct_h < parameters.bat_onset_max_h else 0
    score = None if timing is None else imaging + timing
    details = {
        "points": {
            "blend": BLEND_POINTS * blend.present,
            "hypodensity": HYPODENSITY_POINTS * hypodensity.present,
            "timing": timing,
        },
        "imaging_points": imaging,
        "high_risk": None if score is None else score >= parameters.bat_high_risk_min_score,
        "measured": f"imaging {imaging} + timing " + ("n/a" if timing is None else str(timing)),
    }
    return score, details
