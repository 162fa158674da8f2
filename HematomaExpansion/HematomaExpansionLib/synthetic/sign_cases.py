"""The cases of the sign phantom set: scenarios, the documented parameter ranges on both sides of each
published threshold, and the rules that decide which signs a case truly has.

Each sign scenario draws its deciding parameter alternately above (even index) and below (odd index)
the published threshold, from the ranges in :data:`RANGES`; the controls are sign-free or tricky
cases. The truth of every sign follows from the inserted structures by :func:`true_signs`, with the
thresholds of the defining publications:

- blend (Li et al., Stroke 2015): a hypodense region touching the clot surface (not encapsulated),
  difference >= 18 HU;
- black hole (Li et al., Stroke 2016): a hypodense region encapsulated in the clot, difference >= 28 HU;
- any hypodensity (Boulouis et al., Neurology 2016; swirl, Selariu et al. 2012): any hypodense region
  inside the hematoma. The publication gives no number; a difference >= 10 HU (the project's
  operating threshold, ``SignParameters.hypodensity_min_difference_hu``) counts;
- island (Li et al., Stroke 2017): >= 3 small hematomas separate from the main one, or >= 4 small
  ones in all, some connected (bubbles on its surface);
- satellite (Shimoda et al., Stroke 2017): a small hematoma (diameter < 10 mm) separate from the main
  one, 1-20 mm away (gap between the surfaces).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..signs.report import SIGN_NAMES

BLEND_MIN_CONTRAST_HU = 18.0  # Li et al. 2015
BLACK_HOLE_MIN_CONTRAST_HU = 28.0  # Li et al. 2016
HYPODENSITY_MIN_CONTRAST_HU = 10.0  # no published number: the project's operating threshold
ISLAND_MIN_SEPARATE = 3  # Li et al. 2017
ISLAND_MIN_TOTAL = 4  # Li et al. 2017
SATELLITE_MAX_DIAMETER_MM = 10.0  # Shimoda et al. 2017: < 10 mm
SATELLITE_GAP_MM = (1.0, 20.0)  # Shimoda et al. 2017

SIGN_SCENARIOS = SIGN_NAMES
CONTROL_SCENARIOS = ("homogeneous", "focus_15hu", "satellite_25mm", "lobulated")
#: The sign each control is a trap for: a hypodensity below the blend and black hole thresholds, a
#: satellite beyond 20 mm, a lobulated clot that is one piece on every slice ("none": no sign at all).
CONTROL_SIGNS = {
    "homogeneous": "none",
    "focus_15hu": "hypodensity",
    "satellite_25mm": "satellite",
    "lobulated": "island",
}

#: Structure kinds: a hypodense sphere centred on the clot surface (blend-like), one inside the clot
#: (encapsulated), a hyperdense sphere apart from the clot, one centred on its surface (a bubble).
STRUCTURE_KINDS = ("surface_hypodensity", "inner_hypodensity", "separate_blob", "connected_bubble")

#: The documented ranges (low, high) every case parameter is drawn from, uniformly.
RANGES: dict[str, tuple[float, float]] = {
    "volume_ml": (18.0, 40.0),
    "clot_hu": (58.0, 75.0),
    "noise_sd_hu": (3.0, 5.0),
    "blend_contrast_hu": (8.0, 28.0),  # threshold 18: 8-18 below, 18-28 above
    "blend_diameter_mm": (12.0, 20.0),
    "black_hole_contrast_hu": (18.0, 38.0),  # threshold 28
    "black_hole_diameter_mm": (5.0, 9.0),
    "hypodensity_contrast_hu": (3.0, 17.0),  # threshold 10
    "hypodensity_diameter_mm": (5.0, 9.0),
    "island_diameter_mm": (3.5, 7.0),
    "island_gap_mm": (2.0, 10.0),
    "bubble_diameter_mm": (4.0, 7.0),
    "satellite_diameter_mm": (4.0, 15.0),  # threshold 10: below 4-9.5, above 10-15
    "satellite_gap_mm": (2.0, 30.0),  # threshold 20: inside 2-20, beyond 20-30
    "focus_diameter_mm": (6.0, 9.0),
    "lobulation": (0.2, 0.3),
}
#: (separate, connected) counts of the island scenario: with the island sign, and without it.
ISLAND_PATTERNS = {
    True: ((3, 0), (4, 0), (3, 1), (2, 2), (1, 3), (0, 4), (0, 5), (2, 3)),
    False: ((1, 0), (2, 0), (0, 2), (1, 1), (2, 1), (0, 3), (1, 2), (0, 1)),
}
FOCUS_CONTROL_CONTRAST_HU = 15.0
SATELLITE_CONTROL_GAP_MM = 25.0


@dataclass(frozen=True)
class StructureSpec:
    """A structure to insert: kind, diameter, HU difference from the clot (hypodense kinds) and, for a
    separate blob, the gap (mm) between its surface and the clot's."""

    kind: str
    diameter_mm: float
    contrast_hu: float = 0.0
    gap_mm: float = 0.0


@dataclass(frozen=True)
class SignCase:
    """One case: its scenario and the drawn parameters; ``blobs_in_mask`` says whether the segment
    includes the separate blobs (a user may segment them or not)."""

    case_id: str
    scenario: str
    index: int
    seed: int
    volume_ml: float
    semi_axis_ratios: tuple[float, float, float]
    yaw_deg: float
    lobulation: float
    clot_hu: float
    noise_sd_hu: float
    structures: tuple[StructureSpec, ...]
    blobs_in_mask: bool

    @property
    def sign(self) -> str:
        """The sign the scenario is about (:data:`CONTROL_SIGNS` for the controls)."""
        return CONTROL_SIGNS.get(self.scenario, self.scenario)


def _uniform(
    rng: np.random.Generator, name: str, low: float | None = None, high: float | None = None
) -> float:
    lo, hi = RANGES[name]
    return float(rng.uniform(lo if low is None else low, hi if high is None else high))


def _split(rng: np.random.Generator, name: str, threshold: float, above: bool) -> float:
    """A value of ``name`` at or above ``threshold`` (``above``) or below it."""
    lo, hi = RANGES[name]
    return _uniform(rng, name, threshold, hi) if above else _uniform(rng, name, lo, threshold)


def _blobs(rng: np.random.Generator, separate: int, connected: int) -> list[StructureSpec]:
    blobs = [
        StructureSpec(
            "separate_blob", _uniform(rng, "island_diameter_mm"), gap_mm=_uniform(rng, "island_gap_mm")
        )
        for _ in range(separate)
    ]
    return blobs + [
        StructureSpec("connected_bubble", _uniform(rng, "bubble_diameter_mm")) for _ in range(connected)
    ]


def _satellite(rng: np.random.Generator, index: int) -> StructureSpec:
    """Above: small and near; below: alternately too large (>= 10 mm) or too far (> 20 mm)."""
    d_max = SATELLITE_MAX_DIAMETER_MM - 0.5
    if index % 2 == 0:
        return StructureSpec(
            "separate_blob",
            _uniform(rng, "satellite_diameter_mm", high=d_max),
            gap_mm=_uniform(rng, "satellite_gap_mm", high=SATELLITE_GAP_MM[1]),
        )
    if index % 4 == 1:
        return StructureSpec(
            "separate_blob",
            _uniform(rng, "satellite_diameter_mm", low=SATELLITE_MAX_DIAMETER_MM),
            gap_mm=_uniform(rng, "satellite_gap_mm", high=SATELLITE_GAP_MM[1]),
        )
    return StructureSpec(
        "separate_blob",
        _uniform(rng, "satellite_diameter_mm", high=d_max),
        gap_mm=_uniform(rng, "satellite_gap_mm", low=SATELLITE_GAP_MM[1]),
    )


def _structures(scenario: str, index: int, rng: np.random.Generator) -> list[StructureSpec]:
    """The structures of a scenario's case ``index``."""
    above = index % 2 == 0
    if scenario == "blend":
        contrast = _split(rng, "blend_contrast_hu", BLEND_MIN_CONTRAST_HU, above)
        return [StructureSpec("surface_hypodensity", _uniform(rng, "blend_diameter_mm"), contrast)]
    if scenario in ("black_hole", "hypodensity"):
        threshold = BLACK_HOLE_MIN_CONTRAST_HU if scenario == "black_hole" else HYPODENSITY_MIN_CONTRAST_HU
        contrast = _split(rng, f"{scenario}_contrast_hu", threshold, above)
        return [StructureSpec("inner_hypodensity", _uniform(rng, f"{scenario}_diameter_mm"), contrast)]
    if scenario == "island":
        patterns = ISLAND_PATTERNS[above]
        return _blobs(rng, *patterns[(index // 2) % len(patterns)])
    if scenario == "satellite":
        return [_satellite(rng, index)]
    if scenario == "focus_15hu":
        return [
            StructureSpec("inner_hypodensity", _uniform(rng, "focus_diameter_mm"), FOCUS_CONTROL_CONTRAST_HU)
        ]
    if scenario == "satellite_25mm":
        return [
            StructureSpec(
                "separate_blob",
                _uniform(rng, "satellite_diameter_mm", high=8.0),
                gap_mm=SATELLITE_CONTROL_GAP_MM,
            )
        ]
    return []


def draw_case(seed: int, scenario: str, index: int) -> SignCase:
    """Case ``index`` of ``scenario``, drawn from its own stream of ``seed`` (independent of the others)."""
    number = (*SIGN_SCENARIOS, *CONTROL_SCENARIOS).index(scenario)
    rng = np.random.default_rng(np.random.SeedSequence([seed, number, index]))
    ratios = (1.0, float(rng.uniform(1.0, 1.4)), float(rng.uniform(0.8, 1.0)))
    return SignCase(
        case_id=f"{scenario}_{index:03d}",
        scenario=scenario,
        index=index,
        seed=int(rng.integers(2**31 - 1)),
        volume_ml=_uniform(rng, "volume_ml"),
        semi_axis_ratios=ratios,
        yaw_deg=float(rng.uniform(0.0, 180.0)),
        lobulation=_uniform(rng, "lobulation") if scenario == "lobulated" else 0.0,
        clot_hu=_uniform(rng, "clot_hu"),
        noise_sd_hu=_uniform(rng, "noise_sd_hu"),
        structures=tuple(_structures(scenario, index, rng)),
        blobs_in_mask=bool(rng.integers(2)),
    )


def plan_cases(seed: int, n_per_sign: int, n_per_control: int) -> list[SignCase]:
    """``n_per_sign`` cases of each sign scenario, then ``n_per_control`` of each control."""
    counts = {**dict.fromkeys(SIGN_SCENARIOS, n_per_sign), **dict.fromkeys(CONTROL_SCENARIOS, n_per_control)}
    return [draw_case(seed, scenario, i) for scenario, n in counts.items() for i in range(n)]


def true_signs(structures: list[StructureSpec] | tuple[StructureSpec, ...]) -> dict[str, bool]:
    """Which signs the structures make, by the published definitions (module docstring)."""
    hypodense = [s for s in structures if s.kind in ("surface_hypodensity", "inner_hypodensity")]
    separate = [
        s for s in structures if s.kind == "separate_blob" and s.diameter_mm < SATELLITE_MAX_DIAMETER_MM
    ]
    connected = [s for s in structures if s.kind == "connected_bubble"]
    lo, hi = SATELLITE_GAP_MM
    return {
        "blend": any(
            s.kind == "surface_hypodensity" and s.contrast_hu >= BLEND_MIN_CONTRAST_HU for s in hypodense
        ),
        "black_hole": any(
            s.kind == "inner_hypodensity" and s.contrast_hu >= BLACK_HOLE_MIN_CONTRAST_HU for s in hypodense
        ),
        "hypodensity": any(s.contrast_hu >= HYPODENSITY_MIN_CONTRAST_HU for s in hypodense),
        "island": len(separate) >= ISLAND_MIN_SEPARATE or len(separate) + len(connected) >= ISLAND_MIN_TOTAL,
        "satellite": any(lo <= s.gap_mm <= hi for s in separate),
    }
