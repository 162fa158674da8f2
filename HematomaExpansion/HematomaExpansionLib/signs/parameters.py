"""Thresholds of the conventional CT signs of expansion, each with its published default and source.

Published definitions (the quantity and threshold each sign uses):

- blend sign, Li et al., Stroke 2015;46:2119-2123: a relatively hypoattenuating region blending with
  an adjacent hyperattenuating region inside the hematoma, a well-defined margin between them, a
  mean difference of at least 18 HU, the hypoattenuating region not encapsulated by the other;
- black hole sign, Li et al., Stroke 2016;47:1777-1781: a hypoattenuating region encapsulated in
  the hyperattenuating hematoma, not connected with brain tissue, a recognisable border, a
  difference of at least 28 HU;
- swirl sign (Selariu et al., BMC Neurol 2012;12:109) and any hypodensity (Boulouis et al.,
  Neurology 2016;86:1714): hypo- or isoattenuating regions inside the hematoma of any shape;
- island sign, Li et al., Stroke 2017;48:3019-3025: >= 3 scattered small hematomas all separate
  from the main one on an axial slice, or >= 4 small bubble- or sprout-like hematomas, some or all
  connected with it (not lobules of the main one);
- satellite sign, Shimoda et al., Stroke 2017;48:1768-1772: a small hematoma (diameter < 10 mm)
  completely separate from the main one on at least one axial slice, 1-20 mm away from it;
- Barras et al., Stroke 2009;40:1325-1331: shape and density scales 1-5, each category adding one
  margin irregularity (shape) or one degree of density variation (density);
- BAT score, Morotti et al., Stroke 2018;49:1163-1169: blend sign 1 point, any hypodensity 2
  points, onset-to-CT time < 2.5 h 2 points.

Parameters marked "project choice" make a reader's visual call measurable (noise, partial volume,
what counts as small); the publications give no number for them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ..common.errors import InputError
from ..common.hashing import sha256_bytes


@dataclass(frozen=True)
class SignParameters:
    """Every threshold the sign detectors use; the defaults are the published ones where one exists."""

    # --- intensity analysis inside the hematoma (blend, black hole, hypodensity, Barras density)
    smoothing_sigma_mm: float = 0.7  # project choice: Gaussian in-plane smoothing against CT noise
    rim_mm: float = 1.5  # project choice: partial-volume rim of the segment left out of the analysis
    candidate_offset_hu: float = 5.0  # project choice: smoothed HU this far below the clot = candidate
    region_min_area_mm2: float = 12.0  # project choice: smallest region read (a 4 mm disc: texture, noise)
    region_margin_mm: float = 1.0  # project choice: band either side of a region's border left out
    ring_mm: float = 3.0  # project choice: width of the adjacent clot band a region is compared with
    margin_max_width_mm: float = 3.0  # project choice: 20-80 % border transition of a well-defined margin
    encapsulated_min_fraction: float = 0.9  # project choice: share of the border lying in clot
    blend_min_difference_hu: float = 18.0  # Li et al. 2015
    black_hole_min_difference_hu: float = 28.0  # Li et al. 2016
    hypodensity_min_difference_hu: float = 10.0  # project choice (Boulouis 2016: "any density")
    isoattenuating_tolerance_hu: float = 10.0  # project choice: within this of brain = isoattenuating
    brain_hu_range: tuple[float, float] = (15.0, 50.0)  # project choice: brain tissue around the clot
    # --- hyperdense components outside the segment (island, satellite)
    blood_hu_range: tuple[float, float] = (50.0, 100.0)  # project choice: fresh blood outside the segment
    bone_hu: float = 300.0  # as imaging/draft_parameters: bone, whose partial-volume edge is excluded
    bone_margin_mm: float = 3.0  # project choice: blood-range voxels this close to bone are ignored
    search_mm: float = 20.0  # Shimoda et al. 2017: satellites lie up to 20 mm from the main hematoma
    component_min_area_mm2: float = 3.0  # project choice: smallest separate hematoma read (about 2 mm)
    main_min_area_fraction: float = 0.2  # project choice: slices where the main one is this share of max
    # --- island sign (Li et al. 2017)
    island_min_separate: int = 3  # Li et al. 2017: >= 3 scattered small hematomas, all separate
    island_min_total: int = 4  # Li et al. 2017: >= 4 small hematomas, some connected
    sprout_opening_mm: float = 3.0  # project choice: a sprout is narrower than this radius's disc
    sprout_min_area_mm2: float = 3.0  # project choice: smallest bubble or sprout counted
    sprout_min_length_mm: float = 1.5  # project choice: how far it reaches beyond the body's convex hull
    # --- satellite sign (Shimoda et al. 2017)
    satellite_max_diameter_mm: float = 10.0  # Shimoda et al. 2017: < 10 mm
    satellite_min_distance_mm: float = 1.0  # Shimoda et al. 2017: 1-20 mm from the main hematoma
    satellite_max_distance_mm: float = 20.0  # Shimoda et al. 2017
    # --- Barras scales and BAT score
    barras_max_category: int = 5  # Barras et al. 2009: categories 1-5
    barras_concavity_min_depth_mm: float = 2.0  # project choice: a margin irregularity this deep
    bat_onset_max_h: float = 2.5  # Morotti et al. 2018: onset-to-CT < 2.5 h scores 2 points
    bat_high_risk_min_score: int = 3  # Morotti et al. 2018: BAT >= 3 predicts expansion

    def __post_init__(self) -> None:
        """Refuse negative sizes and inverted ranges with a message naming the parameter."""
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                if len(value) != 2 or not value[0] < value[1]:
                    raise InputError(
                        f"sign parameter {field.name} must be (low, high) with low < high: {value}"
                    )
            elif value < 0:
                raise InputError(f"sign parameter {field.name} must not be negative: {value}")

    def as_dict(self) -> dict[str, float | int | list[float]]:
        """Plain values for provenance (ranges as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def sha256(self) -> str:
        """SHA-256 of the parameters as sorted JSON: one id for one set of thresholds."""
        return sha256_bytes(json.dumps(self.as_dict(), sort_keys=True).encode())
