"""What a phantom is made of: the hematoma spec, the geometry presets and their range checks."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.errors import InputError


@dataclass(frozen=True)
class GeometryPreset:
    """Voxel spacing and grid size; ``*_follows_hematoma`` centres the field of view on the
    hematoma along P (y) or S (z) instead of on the head."""

    spacing_mm: tuple[float, float, float]
    size: tuple[int, int, int]
    xy_follows_hematoma: bool
    z_follows_hematoma: bool


PRESETS: dict[str, GeometryPreset] = {
    "clinical": GeometryPreset((0.45, 0.45, 5.0), (512, 512, 30), False, False),
    "thin": GeometryPreset((0.45, 0.45, 1.0), (352, 352, 100), True, True),
}


@dataclass(frozen=True)
class HematomaSpec:
    """The hematoma to draw. Defaults give the analytic mode: a plain homogeneous ellipsoid.

    ``offset_mm`` is the centre relative to the head centre (LPS mm: +x left, +y posterior,
    +z superior); ``None`` draws a deep, thalamic or lobar site that fits inside the brain.
    ``semi_axis_ratios`` (L, P, S before ``yaw_deg``, a rotation about S) fix the shape; the
    scale is solved so the mask holds ``volume_ml``. ``lobulation`` is the RMS relative
    modulation of the radius (0 = ellipsoid, 0.1 mild, 0.3 strongly lobulated).
    ``heterogeneity_hu`` is the SD of a smooth density texture; ``blend_fraction`` of the
    volume takes ``blend_hu`` (blend sign); ``n_hypodense_foci`` spheres of radius
    ``focus_radius_mm`` take ``focus_hu``; ``oedema_mm`` > 0 adds a rim of ``oedema_hu``
    outside the mask.
    """

    volume_ml: float = 30.0
    offset_mm: tuple[float, float, float] | None = None
    semi_axis_ratios: tuple[float, float, float] = (1.0, 1.3, 0.9)
    yaw_deg: float = 0.0
    lobulation: float = 0.0
    mean_hu: float = 65.0
    heterogeneity_hu: float = 0.0
    blend_fraction: float = 0.0
    blend_hu: float = 40.0
    n_hypodense_foci: int = 0
    focus_radius_mm: float = 3.0
    focus_hu: float = 30.0
    oedema_mm: float = 0.0
    oedema_hu: float = 18.0


def check_phantom_parameters(
    spec: HematomaSpec, preset: str, noise_sd_hu: float, slice_mm: float | None
) -> None:
    """Raise InputError listing every parameter out of range."""
    problems = []
    if preset not in PRESETS:
        problems.append(f"preset {preset!r} is unknown (use one of {sorted(PRESETS)})")
    if not 0.5 <= spec.volume_ml <= 150.0:
        problems.append(f"volume_ml={spec.volume_ml} is outside 0.5-150 mL")
    if min(spec.semi_axis_ratios) <= 0:
        problems.append("semi_axis_ratios must be positive")
    if not 0.0 <= spec.lobulation <= 0.5:
        problems.append(f"lobulation={spec.lobulation} is outside 0-0.5")
    if not 0.0 <= spec.blend_fraction <= 0.8:
        problems.append(f"blend_fraction={spec.blend_fraction} is outside 0-0.8")
    if spec.heterogeneity_hu < 0 or spec.oedema_mm < 0 or spec.n_hypodense_foci < 0 or noise_sd_hu < 0:
        problems.append("heterogeneity_hu, oedema_mm, n_hypodense_foci and noise_sd_hu must be >= 0")
    if spec.focus_radius_mm <= 0:
        problems.append("focus_radius_mm must be positive")
    if slice_mm is not None and not 0.3 <= slice_mm <= 10.0:
        problems.append(f"slice_mm={slice_mm} is outside 0.3-10 mm")
    if problems:
        raise InputError("phantom parameters: " + "; ".join(problems))
